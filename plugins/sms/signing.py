"""Verifying that a callback really comes from the provider.

* Twilio signs every webhook with ``X-Twilio-Signature``: base64 of HMAC-SHA1, keyed with the
  account's auth token, over the full URL Twilio requested followed by every POST parameter as
  ``name + value``, names sorted (a repeated name contributes each of its values, sorted).
  Twilio's own validators also accept the URL with the default port added or removed.
* CM.com does not sign its webhooks, so the URLs the operator registers there carry a token:
  an HMAC-SHA256 of the route, keyed with the hub's per-channel secret. Without the secret the
  token cannot be made, and it differs per route.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Iterable
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from hub.errors import ValidationError
from hub.inbound import form_params


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for a POST of ``params`` to ``url``."""
    by_name: dict[str, list[str]] = {}
    for name, value in params:
        by_name.setdefault(name, []).append(value)
    data = url
    for name in sorted(by_name):
        for value in sorted(by_name[name]):
            data += name + value
    mac = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as given, without its port, and with the scheme's default port (as Twilio's validators do)."""
    parts = urlsplit(url)
    variants = [url]
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.port is not None:
        variants.append(urlunsplit(parts._replace(netloc=prefix + host)))
    else:
        default = 443 if parts.scheme == "https" else 80
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    return variants


def verify_twilio(auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None) -> bool:
    """True when ``signature`` is Twilio's for this URL and these POST parameters."""
    if not signature or not auth_token or not signature.isascii():
        return False
    params = list(params)
    return any(
        hmac.compare_digest(twilio_signature(auth_token, candidate, params).encode(), signature.encode())
        for candidate in _url_variants(url)
    )


def twilio_request_signed(auth_token: str, url: str, request: web.Request, body: bytes) -> bool:
    """Whether ``request`` (to the callback ``url``, with its raw ``body``) carries Twilio's signature.

    Twilio posts ``application/x-www-form-urlencoded`` and signs the fields; a body of any other type
    contributes no fields, so it passes only if it was signed as such. Nothing else of the body is parsed.
    """
    if request.query_string:
        url = f"{url}?{request.query_string}"
    try:
        params = form_params(body, request.content_type)
    except ValidationError:
        return False  # a body Twilio cannot have sent
    return verify_twilio(auth_token, url, params, request.headers.get("X-Twilio-Signature"))


def url_token(secret: bytes, route: str) -> str:
    """The token that authenticates callbacks on ``route`` (e.g. ``"status"``) for unsigned providers."""
    mac = hmac.new(secret, f"burgerhub:sms:{route}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:24]).decode().rstrip("=")


def verify_url_token(secret: bytes, route: str, token: str | None) -> bool:
    return bool(token) and token.isascii() and hmac.compare_digest(url_token(secret, route).encode(), token.encode())
