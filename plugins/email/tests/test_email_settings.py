"""Table-driven checks of the e-mail channel's settings schema."""

from __future__ import annotations

import jsonschema
import pytest

from plugins.email import EmailChannel

VALIDATOR = jsonschema.Draft202012Validator(EmailChannel.settings_schema)
FULL = {
    "host": "smtp.example.org", "port": 587, "security": "starttls", "username": "hub", "password": "pw",
    "from_address": "noreply@burgernet.example.org", "from_name": "Burgernet Utrecht", "connections": 8,
    "reply_ttl_hours": 72, "inline_photos": True,
}


@pytest.mark.parametrize(
    "settings, valid",
    [
        ({}, True),
        (FULL, True),
        ({"host": "smtp.example.org", "from_address": "a@b.nl"}, True),
        ({"host": "smtp.example.org"}, False),  # a real relay needs a sender
        ({**FULL, "password": None}, False),
        ({k: v for k, v in FULL.items() if k != "password"}, False),  # user without password
        ({**FULL, "security": "ssl"}, False),
        ({**FULL, "port": 0}, False),
        ({**FULL, "connections": 0}, False),
        ({**FULL, "from_address": "no-at-sign"}, False),
        ({**FULL, "smtp_host": "typo.example.org"}, False),  # unknown keys are refused
        ({**FULL, "max_photo_bytes": 0}, True),
    ],
)
def test_settings(settings, valid):
    assert VALIDATOR.is_valid(settings) is valid


def test_secrets_are_marked_private():
    props = EmailChannel.settings_schema["properties"]
    assert [k for k, v in props.items() if v.get("private")] == ["password"]
    assert EmailChannel.settings_schema["additionalProperties"] is False
