"""The configuration file: the shipped reference loads, and mistakes name their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_config
from hub.errors import ConfigError
from hub.hub import Hub

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name", ["burgerhub.toml", "demo.toml"])
async def test_the_shipped_configurations_load_with_every_channel_valid(name, tmp_path, monkeypatch):
    monkeypatch.setenv("BURGERHUB_DISPATCHER_TOKEN", "d" * 32)
    monkeypatch.setenv("BURGERHUB_OPERATOR_TOKEN", "o" * 32)
    config = load_config(EXAMPLES / name, overrides={"hub.data_dir": str(tmp_path), "plugins.strict": True})
    hub = Hub(config)
    await hub.start(engine=False)
    try:
        assert hub.unavailable == {}
        assert {"sms", "email", "matrix_boards"} <= set(hub.runtimes)
    finally:
        await hub.stop()


def test_an_unknown_section_or_key_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[hub]\nnetwork = "x"\n')
    with pytest.raises(ConfigError, match=r"hub.network: unknown setting"):
        load_config(path)
    path.write_text("[channel.sms]\n")
    with pytest.raises(ConfigError, match=r"channel: unknown section"):
        load_config(path)


def test_every_problem_in_a_file_is_listed_at_once(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        '[hub]\nnetwork = "x"\naction_ttl_hours = "lang"\n'
        '[api]\nport = "http"\n[[api.tokens]]\nrole = "boss"\ntoken = "short"\n'
        '[engine]\nmax_attempts = -1\nretries = 3\n'
        '[transport_radius_m]\nplane = 9000\n'
        '[console]\nenabled = "yes"\n'
    )
    with pytest.raises(ConfigError) as e:
        load_config(path)
    message = str(e.value)
    assert message.startswith(f"{path}: 9 problems:")
    for expected in ["hub.network: unknown setting", "hub.action_ttl_hours: must be a number",
                     "api.port: must be a whole number", "api.tokens[0].role: must be one of",
                     "api.tokens[0].token: must be at least 16", "engine.max_attempts: must be a whole number",
                     "engine.retries: unknown setting", "transport_radius_m.plane: unknown mode",
                     "console.enabled: must be true or false"]:
        assert expected in message, expected


def test_every_invalid_channel_setting_is_listed_at_once_in_strict_mode(tmp_path):
    from hub.config import config_from_dict

    config = config_from_dict({
        "hub": {"data_dir": str(tmp_path)}, "plugins": {"strict": True},
        "channels": {"sms": {"provider": "pigeon", "max_segments": "many"}, "email": {"port": "smtp"}},
    })
    with pytest.raises(ConfigError) as e:
        Hub(config)
    message = str(e.value)
    assert "channels.sms.provider" in message and "channels.sms.max_segments" in message
    assert "channels.email.port" in message


def test_a_trusted_proxy_that_is_no_address_or_network_is_named():
    from hub.config import config_from_dict

    assert config_from_dict({"api": {"trusted_proxies": ["10.0.0.0/8", "::1"]}}).trusted_proxies == ("10.0.0.0/8", "::1")
    with pytest.raises(ConfigError, match=r"api.trusted_proxies: must be a list of addresses or networks"):
        config_from_dict({"api": {"trusted_proxies": ["10.0.0.0/8", "proxy.example"]}})


@pytest.mark.parametrize("value, ok", [
    ("alerts@burgernet.example", True),
    ("urn:oid:2.49.0.0.528.0", True),
    ("", True),
    ("two words@x", False),
    ("a,b@x", False),
    ("a<b@x", False),
    ("a&b@x", False),
    ("é@x", False),
    ("x" * 256, False),
    (42, False),
])
def test_the_cap_sender_is_checked_as_cap_defines_a_sender(value, ok):
    from hub.config import config_from_dict

    if ok:
        assert config_from_dict({"hub": {"cap_sender": value}}).cap_sender == value
    else:
        with pytest.raises(ConfigError, match=r"hub.cap_sender: must be"):
            config_from_dict({"hub": {"cap_sender": value}})
