"""Verifying that a callback really comes from Twilio.

Twilio signs every webhook with ``X-Twilio-Signature``: base64 of HMAC-SHA1, keyed with the account's
auth token, over the full URL Twilio requested followed by every POST parameter as ``name + value``,
names sorted (a repeated name contributes each of its values, sorted). Twilio's own validators also
accept the URL with the default port added or removed. (The SMS plugin carries the same check: each
plugin stands alone, so either can be disabled.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Iterable
from urllib.parse import urlsplit, urlunsplit


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
    if not signature or not auth_token:
        return False
    params = list(params)
    return any(
        hmac.compare_digest(twilio_signature(auth_token, candidate, params), signature)
        for candidate in _url_variants(url)
    )
