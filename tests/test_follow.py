"""Every running hub sees every participant change, whoever made it (the command line, an import,
another hub), on both backends; an erasure holds in the ledger at once; a second serving process on
one SQLite database is refused with a message that names the first."""

from __future__ import annotations

import asyncio
import time

import pytest
from click.testing import CliRunner

from hub.cli import cli
from hub.errors import StoreInUse
from hub.testing import BACKENDS, RecordingChannel, RecordingPlugin

from conftest import DISPATCHER, UTRECHT, person, start_payload

LAT, LON = UTRECHT


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


@pytest.fixture
def setup(tmp_path, routes_to_recording, database_url):
    """A hub configuration and a command line on the same database."""
    data_dir = tmp_path / "var"
    database = f'database = "{database_url}"\n' if database_url else ""
    config_file = tmp_path / "burgerhub.toml"
    config_file.write_text(f'[hub]\ndata_dir = "{data_dir}"\nroutes = "{routes_to_recording}"\n{database}'
                           'secret = "shared-secret-of-this-test"\n')
    config = {"hub": {"routes": routes_to_recording, "secret": "shared-secret-of-this-test"},
              "channels": {"recording": {"token": "x"}}}

    async def run_cli(*args: str):
        # the real command line, in a thread of its own (it runs its own event loop), as from a shell
        result = await asyncio.to_thread(
            CliRunner().invoke, cli, ["--config", str(config_file), *args], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        return result

    return config, data_dir, run_cli


async def until(predicate, timeout: float = 1.0) -> float:
    """Seconds until ``predicate()`` held; fails after ``timeout``."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - t0


async def test_an_erasure_and_an_import_on_the_command_line_reach_the_running_hub(
    make_hub, recording_channel, setup, tmp_path
):
    config, data_dir, run_cli = setup
    async with make_hub(plugins=[RecordingPlugin()], config=config, data_dir=data_dir) as hub:
        await hub.registry.register(person("p1", LAT, LON))
        await hub.registry.register(person("p2", LAT, LON))
        first = await hub.actions.start(start_payload(), DISPATCHER)
        assert first["audience"]["channels"]["recording"]["targeted"] == 2

        await run_cli("participants", "erase", "--yes", "p1")
        await until(lambda: "p1" not in hub.audience, timeout=1.5)
        second = await hub.actions.start(start_payload(), DISPATCHER)
        assert second["audience"]["channels"]["recording"]["targeted"] == 1
        assert {r["participant_id"] for r in await hub.store.ledger_rows(second["id"])} == {"p2"}

        csv = tmp_path / "new.csv"
        csv.write_text(f"id,mobile,channels,home_lat,home_lon\np3,0612345670,recording,{LAT},{LON}\n")
        await run_cli("participants", "import", "--verified", str(csv))
        # the very next action reaches the imported participant, without waiting for the follower
        third = await hub.actions.start(start_payload(), DISPATCHER)
        assert third["audience"]["channels"]["recording"]["targeted"] == 2
        assert await hub.engine.drain(10)
        assert "+31612345670" in {address for _, address, _ in RecordingChannel.delivered}


async def test_the_store_refuses_a_delivery_to_someone_erased_before_the_hub_followed(
    make_hub, recording_channel, setup
):
    config, data_dir, run_cli = setup
    async with make_hub(plugins=[RecordingPlugin()], config=config, data_dir=data_dir) as hub:
        await hub.registry.register(person("p1", LAT, LON))
        await hub.registry.stop_following()  # as if the hub had not looked yet
        await run_cli("participants", "erase", "--yes", "p1")
        assert "p1" in hub.audience
        action = await hub.actions.start(start_payload(), DISPATCHER)
        assert await hub.store.ledger_rows(action["id"]) == []


@pytest.mark.parametrize("hub_backend", ["postgresql"])  # one hub serves an SQLite database (next test)
async def test_a_participant_registered_through_one_hub_reaches_the_other(make_hub, recording_channel, setup):
    config, data_dir, _ = setup
    async with make_hub(plugins=[RecordingPlugin()], config=config) as a, \
            make_hub(plugins=[RecordingPlugin()], config=config) as b:
        await a.registry.register(person("p1", LAT, LON))
        await until(lambda: "p1" in b.audience, timeout=1.0)
        await b.registry.erase("p1", actor="t", role="operator")
        await until(lambda: "p1" not in a.audience, timeout=1.0)


@pytest.mark.parametrize("hub_backend", ["sqlite"])  # any number of hubs serve a PostgreSQL database
async def test_a_second_serving_hub_on_one_sqlite_database_is_refused(make_hub, recording_channel, setup):
    config, data_dir, _ = setup
    async with make_hub(plugins=[RecordingPlugin()], config=config, data_dir=data_dir):
        with pytest.raises(StoreInUse, match=r"already served by process \d+ on "):
            async with make_hub(plugins=[RecordingPlugin()], config=config, data_dir=data_dir):
                pass
    # once the first has stopped, a new one starts
    async with make_hub(plugins=[RecordingPlugin()], config=config, data_dir=data_dir):
        pass
