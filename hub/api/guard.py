"""What every route gets without asking: a per-client limit on unauthenticated writes, and ``nosniff``.

Rate limit
    Every request that changes something (any method but GET, HEAD and OPTIONS) is counted against
    its client's bucket unless it carries one of the configured staff tokens (dispatcher, operator)
    or goes to a provider callback whose signature the channel checks (:func:`hub.webhooks.signed`:
    a provider's status callbacks arrive by the thousand from a few addresses). So tips, forms, app
    subscriptions, sign-ups, and whatever public route is added later, are limited from the day they
    exist. Past the limit the answer is ``429`` with ``Retry-After`` in whole seconds.

    The client is the peer's address; behind a reverse proxy listed in ``[api] trusted_proxies`` it
    is the last address the proxy put in ``X-Forwarded-For``. The buckets live in this process: with
    several hubs behind a load balancer, a client gets up to the limit from each hub it reaches.

Headers
    Every answer under ``/v1/`` carries ``X-Content-Type-Options: nosniff``, so a browser never
    second-guesses a declared type (a photo is shown as an image, never run as a page).
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections import OrderedDict
from functools import lru_cache
from typing import Iterable

from aiohttp import web

from ..errors import RateLimited
from ..webhooks import SIGNED_CALLBACK
from .keys import HUB

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ClientLimiter:
    """Token buckets per client: ``rate`` requests per second on average, ``burst`` at once.

    Holds at most ``max_clients`` buckets; the least recently seen are forgotten first (a forgotten
    client starts again with a full bucket, which errs on the side of letting people through).
    """

    def __init__(self, rate: float, burst: float, *, max_clients: int = 100_000):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.max_clients = float(rate), float(burst), max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float | None = None) -> float:
        """Take one request for ``client``: 0.0 if allowed, else the seconds until one is."""
        now = time.monotonic() if now is None else now
        tokens, updated = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - updated) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


LIMITER = web.AppKey("public_rate_limiter", ClientLimiter)


def client_address(request: web.Request, trusted_proxies: Iterable[str] = ()) -> str:
    """The client's address: the peer, or behind a trusted proxy the last hop it forwarded."""
    peer = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded and _trusted(peer, trusted_proxies):
        last = forwarded.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer
    return peer


def client_of(request: web.Request) -> str:
    """Who asks, for per-client bounds: :func:`client_address` with the hub's trusted proxies."""
    return client_address(request, request.config_dict[HUB].config.trusted_proxies)


def _trusted(peer: str, proxies: Iterable[str]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(proxies)))


@lru_cache(maxsize=16)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The proxies as networks, parsed once per list rather than on every request (unparsable ones left out)."""
    networks = []
    for proxy in proxies:
        try:
            networks.append(ipaddress.ip_network(proxy, strict=False))
        except ValueError:
            continue
    return tuple(networks)


def rate_limit_middleware(staff_tokens: Iterable[str], trusted_proxies: Iterable[str] = ()):
    """The middleware counting unauthenticated writes per client (see the module's docstring)."""
    staff = [t.encode() for t in staff_tokens if t]
    proxies = tuple(trusted_proxies)

    def is_staff(request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip().isascii():
            return False
        given = token.strip().encode()
        return any(hmac.compare_digest(given, t) for t in staff)

    @web.middleware
    async def middleware(request: web.Request, handler):
        if request.method not in SAFE_METHODS and not is_staff(request):
            target = getattr(request.match_info, "handler", None)
            if not getattr(target, SIGNED_CALLBACK, False):
                limiter = request.config_dict.get(LIMITER)
                if limiter is not None:
                    wait = limiter.take(client_address(request, proxies))
                    if wait > 0:
                        raise RateLimited(wait)
        return await handler(request)

    return middleware


async def nosniff(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: ``X-Content-Type-Options: nosniff`` on every ``/v1/`` answer."""
    if request.path.startswith("/v1/"):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
