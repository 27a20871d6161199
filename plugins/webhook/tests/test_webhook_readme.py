"""The guide in plugins/webhook/README.md lists the channel's real code, not a copy that drifts."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from pathlib import Path

import pytest

from plugins.webhook import sign

HERE = Path(__file__).resolve().parent.parent
README = (HERE / "README.md").read_text(encoding="utf-8")


def listing(after: str, language: str) -> str:
    match = re.search(re.escape(after) + r".*?```" + language + r"\n(.*?)```", README, re.S)
    assert match, f"no {language} listing after {after!r} in README.md"
    return match.group(1)


def test_the_listing_is_the_module():
    assert listing("`plugins/webhook/__init__.py`:", "python") == (HERE / "__init__.py").read_text(encoding="utf-8")


def test_the_listing_is_the_settings_schema():
    assert listing("`plugins/webhook/settings.schema.json`:", "json") == (
        HERE / "settings.schema.json"
    ).read_text(encoding="utf-8")


def test_the_verification_example_matches_the_signing_scheme():
    namespace: dict = {}
    exec(listing("### Verifying a request", "python"), namespace)
    body = json.dumps({"kind": "start"}).encode()
    timestamp = str(int(time.time()))
    headers = {"X-Burgerhub-Timestamp": timestamp, "X-Burgerhub-Signature": sign("k" * 20, timestamp, body)}
    assert namespace["verify"]("k" * 20, headers, body) == {"kind": "start"}
    forged = {**headers, "X-Burgerhub-Signature": "sha256=" + hmac.new(b"x", body, hashlib.sha256).hexdigest()}
    with pytest.raises(ValueError, match="bad signature"):
        namespace["verify"]("k" * 20, forged, body)
    stale = {**headers, "X-Burgerhub-Timestamp": str(int(timestamp) - 3600)}
    with pytest.raises(ValueError, match="stale"):
        namespace["verify"]("k" * 20, stale, body)
