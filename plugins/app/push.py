"""Web Push on the wire: VAPID (RFC 8292) authorisation and aes128gcm (RFC 8291/8188) payloads.

The encryption is pywebpush's :meth:`pywebpush.WebPusher.encode` and the VAPID token comes from
``py_vapid``; the HTTP request itself is made by the channel with aiohttp, because pywebpush sends with
``requests`` (blocking) or opens a new aiohttp session per message. Encrypting one message costs about
0.3 ms of CPU (one ephemeral P-256 key and one ECDH); it runs on the loop between the requests.
"""

from __future__ import annotations

import base64
import time
from typing import Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPushException, WebPusher
from yarl import URL


#: The largest plaintext that fits one aes128gcm record of 4096 bytes: 4096 minus the header
#: (16 salt + 4 record size + 1 key id length + 65 key id), the 16-byte tag and the 1-byte delimiter.
MAX_PLAINTEXT = 4096 - 86 - 16 - 1


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; ``ValueError`` on anything else."""
    if not isinstance(text, str) or not text or any(c in text for c in "+/= \n"):
        raise ValueError("not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as e:
        raise ValueError("not base64url") from e


def check_client_keys(p256dh: str, auth: str) -> str | None:
    """The name of the bad key in a subscription (``p256dh`` or ``auth``), or ``None`` if both are usable."""
    try:
        point = b64url_decode(p256dh)
        if len(point) != 65 or point[0] != 4:
            return "p256dh"
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        return "p256dh"
    try:
        if len(b64url_decode(auth)) != 16:
            return "auth"
    except ValueError:
        return "auth"
    return None


def load_vapid_key(text: str) -> Vapid02:
    """A VAPID key from PEM, base64url DER, or the raw 32-byte base64url form ``web-push`` tools print."""
    text = text.strip()
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode(), password=None)
        vapid = Vapid02(key)
    else:
        vapid = Vapid02.from_string(text)
    if not isinstance(vapid.private_key, ec.EllipticCurvePrivateKey) or vapid.private_key.curve.name != "secp256r1":
        raise ValueError("a VAPID key must be an EC key on the P-256 curve")
    return vapid


class VapidSigner:
    """Signs the VAPID ``Authorization`` header, one token per push service origin, reused for an hour."""

    def __init__(self, private_key: str, subject: str, *, lifetime: int = 12 * 3600, reuse: int = 3600):
        self.vapid = load_vapid_key(private_key)
        self.subject = subject
        self.lifetime = lifetime
        self.reuse = reuse
        self._tokens: dict[str, tuple[str, float]] = {}

    @property
    def public_key(self) -> str:
        """The application server key the app passes to ``PushManager.subscribe`` (base64url point)."""
        point = self.vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    def authorization(self, endpoint: str, now: float | None = None) -> str:
        now = time.time() if now is None else now
        audience = origin(endpoint)
        cached = self._tokens.get(audience)
        if cached and cached[1] > now:
            return cached[0]
        claims = {"aud": audience, "sub": self.subject, "exp": int(now) + self.lifetime}
        header = self.vapid.sign(claims)["Authorization"]
        self._tokens[audience] = (header, now + self.reuse)
        return header


def origin(endpoint: str) -> str:
    url = URL(endpoint)
    default = {"https": 443, "http": 80}.get(url.scheme)
    port = "" if url.port in (None, default) else f":{url.port}"
    return f"{url.scheme}://{url.host}{port}"


class BadSubscription(ValueError):
    """A stored subscription whose keys cannot be used for encryption."""


def encrypt(endpoint: str, keys: Mapping[str, str], plaintext: bytes) -> bytes:
    """One aes128gcm record for this subscription (a fresh sender key and salt every time)."""
    if len(plaintext) > MAX_PLAINTEXT:
        raise ValueError(f"push payload of {len(plaintext)} bytes exceeds {MAX_PLAINTEXT}")
    try:
        pusher = WebPusher({"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}})
        return pusher.encode(plaintext, content_encoding="aes128gcm")["body"]
    except (WebPushException, KeyError, ValueError) as e:
        raise BadSubscription(str(e)) from e
