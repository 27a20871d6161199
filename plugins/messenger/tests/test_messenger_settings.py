"""Table-driven checks of the Messenger channel's settings schema."""

from __future__ import annotations

import jsonschema
import pytest

from plugins.messenger import MessengerChannel

VALIDATOR = jsonschema.Draft202012Validator(MessengerChannel.settings_schema)
REAL = {"page_access_token": "EAAG", "app_secret": "secret", "verify_token": "long-enough"}


@pytest.mark.parametrize(
    "settings, valid",
    [
        ({}, True),
        (REAL, True),
        ({**REAL, "page_id": "104857600", "api_version": "v25.0", "default_radius_m": 3000}, True),
        ({"page_access_token": "EAAG"}, False),  # a real page needs the webhook secrets
        ({**REAL, "verify_token": "short"}, False),
        ({**REAL, "api_version": "25"}, False),
        ({**REAL, "page_id": "my-page"}, False),
        ({**REAL, "window_hours": 48}, False),  # Messenger's window is 24 hours at most
        ({**REAL, "default_radius_m": 100}, False),
        ({**REAL, "message_tag": "ACCOUNT_UPDATE"}, False),  # tags are not used (see README)
    ],
)
def test_settings(settings, valid):
    assert VALIDATOR.is_valid(settings) is valid


def test_secrets_are_marked_private():
    props = MessengerChannel.settings_schema["properties"]
    assert sorted(k for k, v in props.items() if v.get("private")) == ["app_secret", "page_access_token", "verify_token"]
    assert MessengerChannel.settings_schema["additionalProperties"] is False
