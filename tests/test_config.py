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
