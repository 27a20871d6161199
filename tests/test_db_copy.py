"""``burgerhub db copy`` moves an SQLite installation to PostgreSQL whole; ``db status`` tells the schema."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from click.testing import CliRunner

from hub.cli import cli
from hub.errors import StoreError
from hub.testing import RecordingPlugin

from conftest import DISPATCHER, UTRECHT, person, start_payload

LAT, LON = UTRECHT


@pytest.fixture
def hub_backend():
    return "postgresql"


async def test_an_sqlite_installation_moves_to_postgresql(make_hub, recording_channel, routes_to_recording, tmp_path,
                                                          database_url):
    data_dir = tmp_path / "var"
    config = {"hub": {"routes": routes_to_recording, "database": ""}, "channels": {"recording": {"token": "x"}}}
    async with make_hub(plugins=[RecordingPlugin()], config=config, data_dir=data_dir) as hub:
        for i in range(5):
            await hub.registry.register(person(f"p{i}", LAT, LON))
        action = await hub.actions.start(start_payload(), DISPATCHER)
        assert await hub.engine.drain(10)
        await hub.store.record_put("app", "vapid", {"public": "key"})
        await hub.store.photo_put("b" * 32 + ".png", "image/png", b"\x89PNG")
        secret = hub.secret
        # an ended action's kept figures (they outlive its ledger rows) and a rule set put in force
        await hub.actions.end(action["id"], {"result": "arrested"}, DISPATCHER)
        assert await hub.engine.drain(10)
        assert await hub.store.keep_settled_figures(now=time.time() + 3600, settle_seconds=0) == 1
        kept = await hub.store.period_actions(0, time.time() + 3600)
        rules_text = "version: 1\nchannels: [recording]\n# put in force before the move\n"
        before = await hub.store.ledger_rows(action["id"])
        version = await hub.store.store_rules(rules_text, "x" * 64, source="api", actor="op", role="operator")

    config_file = tmp_path / "burgerhub.toml"
    config_file.write_text(f'[hub]\ndata_dir = "{data_dir}"\n')

    def invoke(*args):
        return CliRunner().invoke(cli, ["--config", str(config_file), *args], catch_exceptions=False)

    result = await asyncio.to_thread(invoke, "db", "copy", "--to", database_url)
    assert result.exit_code == 0, result.output
    assert "participants" in result.output and "copied" in result.output

    moved = {"hub": {"routes": routes_to_recording, "database": database_url}, "channels": {"recording": {"token": "x"}}}
    async with make_hub(plugins=[RecordingPlugin()], config=moved, data_dir=tmp_path / "elsewhere") as pg:
        assert pg.store.backend == "postgresql"
        assert await pg.store.count_participants() == 5 and len(pg.audience) == 5
        assert await pg.store.ledger_rows(action["id"]) == before
        assert await pg.store.record_get("app", "vapid") == {"public": "key"}
        assert await pg.store.photo_get("b" * 32 + ".png") == (b"\x89PNG", "image/png")
        assert pg.secret == secret  # links signed before the move stay valid
        assert await pg.store.period_actions(0, time.time() + 3600) == kept
        stored = await pg.store.active_rules()
        assert (stored.version, stored.text) == (version, rules_text)
        # new rows do not collide with the copied ids
        second = await pg.actions.start(start_payload(), DISPATCHER)
        assert len(await pg.store.ledger_rows(second["id"])) == 5

    with pytest.raises(StoreError, match="copy into an empty database"):
        await asyncio.to_thread(invoke, "db", "copy", "--to", database_url)

    status = await asyncio.to_thread(invoke, "db", "status")
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["backend"] == "sqlite"
