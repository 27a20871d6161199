"""Signed links in mails: the reply form (expiring, single use) and the one-click unsubscribe.

A token is ``<payload>.<mac>``: the payload is compact JSON in unpadded base64url, the MAC an
HMAC-SHA256 over the payload with a key derived from the hub's secret and the token's purpose, so a
reply token can never be replayed as an unsubscribe token. Expiry (``e``, epoch seconds) is inside the
signed payload. Single use is not the token's business: the reply form records used nonces.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from hub.errors import AuthError

MAX_TOKEN_LENGTH = 1024


class InvalidToken(AuthError):
    """The token is malformed or its signature does not match: forged, truncated or from another hub."""


class ExpiredToken(AuthError):
    """The token is genuine but past its expiry. ``payload`` is the verified content."""

    def __init__(self, payload: dict[str, Any]):
        super().__init__("the link has expired")
        self.payload = payload


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and verifies tokens of one purpose (``reply``, ``unsubscribe``)."""

    def __init__(self, secret: bytes, purpose: str):
        if not secret:
            raise ValueError("a signing secret is required")
        self._key = hmac.new(secret, b"burgerhub/email/" + purpose.encode(), hashlib.sha256).digest()

    def _mac(self, body: str) -> str:
        return _b64encode(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def sign(self, payload: dict[str, Any]) -> str:
        body = _b64encode(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str, *, now: float | None = None) -> dict[str, Any]:
        """The payload of a genuine, unexpired token; :class:`InvalidToken` or :class:`ExpiredToken` otherwise."""
        if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise InvalidToken("malformed link")
        body, dot, mac = token.partition(".")
        if not dot or not body or not mac:
            raise InvalidToken("malformed link")
        if not hmac.compare_digest(mac.encode("ascii"), self._mac(body).encode("ascii")):
            raise InvalidToken("the link's signature does not match")
        try:
            payload = json.loads(_b64decode(body))
        except (binascii.Error, ValueError) as e:
            raise InvalidToken("malformed link") from e
        if not isinstance(payload, dict):
            raise InvalidToken("malformed link")
        expires = payload.get("e")
        if expires is not None and (now if now is not None else time.time()) >= float(expires):
            raise ExpiredToken(payload)
        return payload
