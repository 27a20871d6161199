"""The shipped channel contract test (hub/contract.py), over every installed channel.

A third-party channel runs the same tests with ``burgerhub_channels = ["its-name"]`` in its pytest
configuration. Here the built-in HTTP channels are pointed at the contract's misbehaving provider.
"""

from __future__ import annotations

import pytest

from hub.contract import *  # noqa: F401,F403  (the tests, their parametrization and fixtures)
from hub.contract import ProviderTarget


@pytest.fixture
def burgerhub_provider():
    twilio = {"account_sid": "AC" + "0" * 32, "auth_token": "secret-token"}
    return {
        "sms": ProviderTarget(lambda url, timeout: {"provider": "twilio", "base_url": url, "sender": "+3197010000000",
                                                     "timeout": timeout, **twilio}),
        "voice": ProviderTarget(lambda url, timeout: {"provider": "twilio", "base_url": url, "caller_id": "+31302000000",
                                                       "timeout": timeout, **twilio}),
        "webhook": ProviderTarget(lambda url, timeout: {
            "endpoints": [{"name": "bridge", "url": f"{url}/hook", "secret": "s" * 32}],
            "timeout": timeout, "allow_private_addresses": True}, address="bridge"),
    }
