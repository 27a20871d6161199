"""A Web Push service on 127.0.0.1 for tests, written from the RFCs and independent of pywebpush.

It plays both ends a real push service sees: it hands out subscriptions (a P-256 key pair and an auth
secret per token, as a browser would create them), and on ``POST /push/<token>`` it checks the VAPID
``Authorization`` header (RFC 8292: ES256 JWT verified with the ``k`` public key), decrypts the
aes128gcm body (RFC 8291 / RFC 8188) with the subscription's private key, and records what it got.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def decrypt_aes128gcm(body: bytes, ua_private: ec.EllipticCurvePrivateKey, auth_secret: bytes) -> bytes:
    """RFC 8291 section 3.4 + RFC 8188 section 2, single record."""
    salt, rs, idlen = body[:16], struct.unpack("!I", body[16:20])[0], body[20]
    as_public_bytes = body[21 : 21 + idlen]
    ciphertext = body[21 + idlen :]
    assert idlen == 65, f"keyid must be the sender's 65-byte public key, got {idlen}"
    assert len(ciphertext) <= rs, "more than one record"
    as_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public_bytes)
    ecdh_secret = ua_private.exchange(ec.ECDH(), as_public)
    key_info = b"WebPush: info\x00" + _point(ua_private.public_key()) + as_public_bytes
    ikm = _hkdf(auth_secret, ecdh_secret, key_info, 32)
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
    data = padded.rstrip(b"\x00")
    assert data.endswith(b"\x02"), "last record must end with the 0x02 delimiter"
    return data[:-1]


def verify_vapid(header: str, *, audience: str, subject: str, public_key: str) -> dict[str, Any]:
    """Check an RFC 8292 ``vapid t=<jwt>,k=<key>`` header; returns the JWT claims."""
    scheme, _, params = header.partition(" ")
    assert scheme.lower() == "vapid", header
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert parts["k"] == public_key, "k is not the application server key"
    signing_input, _, signature = parts["t"].rpartition(".")
    head_b64, claims_b64 = signing_input.split(".")
    head = json.loads(unb64u(head_b64))
    assert head["alg"] == "ES256" and head.get("typ", "JWT") == "JWT", head
    raw = unb64u(signature)
    assert len(raw) == 64, "ES256 signature must be r||s, 64 bytes"
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64u(parts["k"]))
    key.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature
    claims = json.loads(unb64u(claims_b64))
    now = time.time()
    assert claims["aud"] == audience, claims
    assert claims["sub"] == subject, claims
    assert now < claims["exp"] <= now + 24 * 3600, claims
    return claims


@dataclass
class Device:
    token: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    def subscription(self, base_url: str) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` gives the app."""
        return {
            "endpoint": f"{base_url}/push/{self.token}",
            "expirationTime": None,
            "keys": {"p256dh": b64u(_point(self.private_key.public_key())), "auth": b64u(self.auth)},
        }


@dataclass
class Received:
    token: str
    headers: dict[str, str]
    claims: dict[str, Any]
    body_size: int
    payload: dict[str, Any]


@dataclass
class PushService:
    vapid_public_key: str
    subject: str
    devices: dict[str, Device] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    #: token -> (status, headers) to answer instead of accepting
    answers: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    server: TestServer | None = None
    problems: list[str] = field(default_factory=list)

    def new_device(self) -> Device:
        device = Device(token=b64u(os.urandom(9)), private_key=ec.generate_private_key(ec.SECP256R1()), auth=os.urandom(16))
        self.devices[device.token] = device
        return device

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        device = self.devices.get(token)
        if device is None:
            return web.Response(status=404)
        if token in self.answers:
            status, headers = self.answers[token]
            return web.Response(status=status, headers=headers)
        try:
            assert request.headers.get("Content-Encoding") == "aes128gcm", request.headers.get("Content-Encoding")
            assert request.headers["TTL"].isdigit()
            assert request.headers.get("Urgency") in ("very-low", "low", "normal", "high")
            topic = request.headers.get("Topic", "")
            assert len(topic) <= 32 and all(c.isalnum() or c in "-_" for c in topic)
            claims = verify_vapid(
                request.headers["Authorization"], audience=self.base_url, subject=self.subject,
                public_key=self.vapid_public_key,
            )
            body = await request.read()
            assert len(body) <= 4096, f"body of {len(body)} bytes is more than one push message"
            plaintext = decrypt_aes128gcm(body, device.private_key, device.auth)
        except Exception as e:  # the test asserts on problems; answer like a push service would
            self.problems.append(f"{type(e).__name__}: {e}")
            return web.Response(status=400, text=str(e))
        self.received.append(
            Received(token=token, headers=dict(request.headers), claims=claims, body_size=len(body),
                     payload=json.loads(plaintext))
        )
        return web.Response(status=201, headers={"Location": f"{self.base_url}/message/{len(self.received)}"})

    async def __aenter__(self) -> "PushService":
        app = web.Application()
        app.router.add_post("/push/{token}", self.handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self.server is not None
        await self.server.close()
