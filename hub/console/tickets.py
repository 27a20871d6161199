"""Short-lived signed tickets that let a browser's ``EventSource`` follow one action.

``EventSource`` cannot send an ``Authorization`` header, and a bearer token in a URL would end up in
access logs and browser history. So the console trades its bearer token (in a normal ``fetch`` with
the header) for a *ticket*: a small signed statement "actor X with role Y may open the event stream of
action Z until time T", put in the stream's URL instead of the token.

A ticket is ``base64url(json).base64url(hmac_sha256(key, json))`` where the key is derived from the
hub's secret, so tickets survive nothing the secret does not, and no state is needed to check them
except the nonces already used: each ticket opens one stream once. With a store's ``spend_once`` the
nonces are spent in the store, so on a cluster (one secret for every hub) a ticket opens one stream
on one hub, not one on each. An ``EventSource`` that
reconnects on its own re-sends the spent ticket, is refused, and the console asks for a new one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from ..errors import AuthError

TICKET_SECONDS = 30.0
"""How long a ticket may be used to open a stream (the stream itself stays open after that)."""


@dataclass(frozen=True)
class Ticket:
    """What a valid ticket grants."""

    action_id: str
    actor: str
    role: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TicketSigner:
    """Issues and checks tickets for one hub. ``clock`` is injectable for tests."""

    def __init__(
        self,
        secret: bytes,
        *,
        lifetime: float = TICKET_SECONDS,
        clock: Callable[[], float] = time.time,
        spend: Callable[[str, float], Awaitable[bool]] | None = None,
    ):
        self._key = hmac.new(secret, b"burgerhub console event-stream ticket", hashlib.sha256).digest()
        self.lifetime = lifetime
        self._clock = clock
        #: ``spend(key, until)``: True the first time a key is spent (the store's ``spend_once``)
        self._spend = spend or self._spend_here
        self._spent: dict[str, float] = {}

    def issue(self, action_id: str, actor: str, role: str) -> tuple[str, float]:
        """A fresh ticket for ``action_id`` and its expiry (epoch seconds)."""
        expires_at = self._clock() + self.lifetime
        body = json.dumps(
            {"a": action_id, "s": actor, "r": role, "e": round(expires_at, 3), "n": secrets.token_urlsafe(12)},
            separators=(",", ":"),
        ).encode()
        mac = hmac.new(self._key, body, hashlib.sha256).digest()
        return f"{_b64(body)}.{_b64(mac)}", expires_at

    async def redeem(self, ticket: str, action_id: str) -> Ticket:
        """Check ``ticket`` for ``action_id`` and spend it; :class:`AuthError` says why it is refused."""
        head, _, tail = (ticket or "").partition(".")
        try:
            body, mac = _unb64(head), _unb64(tail)
        except (binascii.Error, ValueError) as e:
            raise AuthError("malformed ticket") from e
        if not head or not hmac.compare_digest(mac, hmac.new(self._key, body, hashlib.sha256).digest()):
            raise AuthError("invalid ticket")
        claims = json.loads(body)
        now = self._clock()
        if claims["e"] < now:
            raise AuthError("ticket expired; ask for a new one")
        if claims["a"] != action_id:
            raise AuthError("ticket is for another action")
        if not await self._spend(f"console-ticket:{claims['n']}", claims["e"]):
            raise AuthError("ticket already used; ask for a new one")
        return Ticket(action_id=claims["a"], actor=claims["s"], role=claims["r"], expires_at=claims["e"])

    async def _spend_here(self, key: str, until: float) -> bool:
        """Spend a key in this process only (no store given)."""
        now = self._clock()
        for spent in [k for k, exp in self._spent.items() if exp < now]:
            del self._spent[spent]
        if key in self._spent:
            return False
        self._spent[key] = until
        return True
