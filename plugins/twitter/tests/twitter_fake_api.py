"""An X API stand-in on 127.0.0.1, reached by tweepy exactly as the real one: ``https://api.twitter.com``.

Only the transport is redirected: a resolver sends ``api.twitter.com`` (and the photo host) to the
loopback server, which serves TLS with a certificate for those names from a throw-away test CA. The
server checks each request the way X does: the OAuth 1.0a ``HMAC-SHA1`` signature (verified here
from RFC 5849, independent of oauthlib) against the consumer and token secrets of the account it
names, the JSON body of ``POST /2/tweets``, and the multipart body of ``POST /2/media/upload``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOSTS = ("api.twitter.com", "img.example.org")


def _pct(text: str) -> str:
    return quote(text, safe="~-._")


def oauth1_signature_ok(method: str, url: str, query: dict[str, str], header: str, consumer_secret: str, token_secret: str) -> dict[str, str]:
    """Verify an ``Authorization: OAuth ...`` header (RFC 5849 3.4.1-3.4.2); returns its oauth_* params."""
    assert header.startswith("OAuth "), header
    params = {}
    for item in header[len("OAuth ") :].split(","):
        key, _, value = item.strip().partition("=")
        params[unquote(key)] = unquote(value.strip('"'))
    assert params["oauth_signature_method"] == "HMAC-SHA1", params
    assert params["oauth_version"] == "1.0"
    assert abs(int(params["oauth_timestamp"]) - time.time()) < 300
    signed = {k: v for k, v in params.items() if k not in ("oauth_signature", "realm")}
    signed.update(query)
    normalised = "&".join(f"{k}={v}" for k, v in sorted((_pct(k), _pct(v)) for k, v in signed.items()))
    base = "&".join((method.upper(), _pct(url), _pct(normalised)))
    key = f"{_pct(consumer_secret)}&{_pct(token_secret)}".encode()
    expected = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()
    assert hmac.compare_digest(expected, params["oauth_signature"]), "OAuth 1.0a signature does not verify"
    return params


@dataclass
class Certificates:
    ca_pem: bytes
    cert_file: str
    key_file: str

    @classmethod
    def create(cls, folder) -> "Certificates":
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "burgerhub test CA")])
        ca = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTS[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        cert_file, key_file = folder / "leaf.pem", folder / "leaf.key"
        cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        return cls(ca.public_bytes(serialization.Encoding.PEM), str(cert_file), str(key_file))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca_pem.decode())


class LoopbackResolver(AbstractResolver):
    """Resolves the stand-in hosts to the loopback server; refuses every other name (no network)."""

    def __init__(self, port: int):
        self.port = port

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[dict[str, Any]]:
        if host not in HOSTS:
            raise OSError(f"tests have no network: {host}")
        return [{"hostname": host, "host": "127.0.0.1", "port": self.port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        pass


@dataclass
class Post:
    id: str
    account: str
    json: dict[str, Any]
    oauth: dict[str, str]


@dataclass
class FakeX:
    """Accounts by access token: token -> (province, consumer_secret, token_secret)."""

    certs: Certificates
    accounts: dict[str, tuple[str, str, str]]
    posts: list[Post] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, host, path
    #: per province: headers added to successful answers
    limit_headers: dict[str, dict[str, str]] = field(default_factory=dict)
    #: answers to give instead of accepting: a list of (status, headers, json) popped per post
    answers: list[tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    photo: bytes = b""
    problems: list[str] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _next_id: int = 1790000000000000000

    def _auth(self, request: web.Request, query: dict[str, str]) -> tuple[str, dict[str, str]]:
        header = request.headers.get("Authorization", "")
        token = unquote(header.split('oauth_token="', 1)[1].split('"', 1)[0]) if 'oauth_token="' in header else ""
        if token not in self.accounts:
            raise web.HTTPUnauthorized(text=json.dumps({"title": "Unauthorized", "status": 401}), content_type="application/json")
        province, consumer_secret, token_secret = self.accounts[token]
        url = f"https://{request.host}{request.path}"
        params = oauth1_signature_ok(request.method, url, query, header, consumer_secret, token_secret)
        return province, params

    async def tweets(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.host, request.path))
        try:
            assert request.host == "api.twitter.com", request.host
            assert request.content_type == "application/json", request.content_type
            province, oauth = self._auth(request, dict(request.query))
            body = await request.json()
        except AssertionError as e:
            self.problems.append(str(e))
            return web.json_response({"title": "Bad Request", "detail": str(e)}, status=400)
        if self.answers:
            status, headers, answer = self.answers.pop(0)
            return web.json_response(answer, status=status, headers=headers)
        reply = body.get("reply", {}).get("in_reply_to_tweet_id")
        if reply is not None and (reply in self.deleted or reply not in {p.id for p in self.posts}):
            return web.json_response(
                {"detail": "You attempted to reply to a Tweet that is deleted or not visible to you.", "status": 403,
                 "title": "Forbidden", "type": "about:blank"}, status=403)
        if not isinstance(body.get("text"), str) or not body["text"]:
            return web.json_response({"title": "Invalid Request", "detail": "text missing"}, status=400)
        self._next_id += 1
        tweet_id = str(self._next_id)
        self.posts.append(Post(id=tweet_id, account=province, json=body, oauth=oauth))
        return web.json_response(
            {"data": {"id": tweet_id, "text": body["text"], "edit_history_tweet_ids": [tweet_id]}},
            status=201, headers=self.limit_headers.get(province, {}),
        )

    async def media_upload(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.host, request.path))
        try:
            assert request.content_type == "multipart/form-data", request.content_type
            province, _ = self._auth(request, dict(request.query))
            form = await request.post()
            media = form["media"]
            data = media.file.read()
            assert data == self.photo, "uploaded bytes differ from the photo"
            assert form["media_category"] == "tweet_image"
        except (AssertionError, KeyError) as e:
            self.problems.append(repr(e))
            return web.json_response({"title": "Bad Request", "detail": repr(e)}, status=400)
        self._next_id += 1
        media_id = str(self._next_id)
        self.uploads.append({"id": media_id, "account": province, "content_type": media.content_type, "size": len(data)})
        return web.json_response({"data": {"id": media_id, "media_key": f"3_{media_id}", "size": len(data)}}, status=200)

    async def photo_file(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.host, request.path))
        return web.Response(body=self.photo, content_type="image/png")

    async def __aenter__(self) -> "FakeX":
        app = web.Application()
        app.router.add_post("/2/tweets", self.tweets)
        app.router.add_post("/2/media/upload", self.media_upload)
        app.router.add_get("/boy.jpg", self.photo_file)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.certs.server_context())
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def session(self) -> aiohttp.ClientSession:
        """What the channel gets instead of its default session: same client, transport pointed here."""
        connector = aiohttp.TCPConnector(resolver=LoopbackResolver(self.port), ssl=self.certs.client_context())
        return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10))
