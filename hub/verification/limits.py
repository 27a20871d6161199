"""Rate limits on sending codes and links: per phone number, per e-mail address and per client.

One small module, so that it can serve other sensitive requests too. The counters are sliding
windows kept in the store (:meth:`hub.store.verification.VerificationQueries.rate_hit`), so every hub
process of a cluster counts against the same bound. A key is an HMAC of what is counted (never a
number or address in clear). A request over a bound raises :class:`~hub.errors.RateLimited`
with the seconds until the oldest counted request leaves the window (the API answers 429 with
``Retry-After``).

A bound applies whether or not the number or address is registered: the answer never tells.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from ..errors import RateLimited


@dataclass(frozen=True, slots=True)
class Bound:
    """At most ``limit`` requests per ``window`` seconds."""

    limit: int
    window: float


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds on sending codes and links (defaults are conservative for citizens' use)."""

    #: codes sent to one phone number (SMS or call)
    per_number: Bound = Bound(3, 3600.0)
    #: links sent to one e-mail address (sign-up, sign-in, confirmation)
    per_address: Bound = Bound(3, 3600.0)
    #: codes and links requested by one client (network address)
    per_client: Bound = Bound(10, 3600.0)
    #: participants registering themselves from one client
    registrations_per_client: Bound = Bound(5, 3600.0)


class SendLimiter:
    """Counts requests against :class:`Limits` in the store."""

    def __init__(self, store, secret: bytes, limits: Limits | None = None):
        self.store = store
        self.limits = limits or Limits()
        self._key = hmac.new(secret, b"rate-limits", hashlib.sha256).digest()

    def key(self, kind: str, value: str) -> str:
        return hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()

    async def hit(self, kind: str, value: str, bound: Bound, reason: str) -> None:
        """Count one request of ``kind`` for ``value``; raise RateLimited past ``bound``."""
        retry = await self.store.rate_hit(self.key(kind, value), bound.window, bound.limit)
        if retry is not None:
            raise RateLimited(retry, reason)

    async def client(self, client: str | None) -> None:
        if client:
            await self.hit("client", client, self.limits.per_client, "too many requests from this client; try again later")

    async def number(self, number: str) -> None:
        await self.hit("number", number, self.limits.per_number, "too many codes for this number; try again later")

    async def address(self, address: str) -> None:
        await self.hit("address", address, self.limits.per_address, "too many messages to this address; try again later")

    async def registration(self, client: str | None) -> None:
        if client:
            await self.hit("register", client, self.limits.registrations_per_client,
                           "too many registrations from this client; try again later")
