"""Shared fixtures for the core tests (the plugin-author helpers come from ``hub.testing``)."""

from __future__ import annotations

import contextlib
import zlib
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from hub.actions import Actor
from hub.api import create_app
from hub.cli import cli
from hub.store.select import open_store
from hub.testing import RecordingPlugin

DISPATCHER = Actor("meldkamer", "dispatcher")
UTRECHT = (52.0894, 5.1100)
#: the API's tokens in the ``api`` fixture's hub, and the headers that carry them
TOKENS = [
    {"name": "meldkamer", "role": "dispatcher", "token": "dispatcher-token-0123456789"},
    {"name": "beheer", "role": "operator", "token": "operator-token-01234567890"},
]
DISPATCH = {"Authorization": "Bearer dispatcher-token-0123456789"}
OPERATE = {"Authorization": "Bearer operator-token-01234567890"}

#: the browser tests drive Debian's chromium with Playwright
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (scripts/setup-system)")


@pytest.fixture
async def browser():
    """A headless Chromium for one test, closed afterwards."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=20000)
        try:
            yield chromium
        finally:
            await chromium.close()


def person(pid: str, lat: float, lon: float, *, phone: str | None = None, channels=("recording",), **extra) -> dict:
    """A participant with one home address and a mobile number derived from the id."""
    number = phone or "+3161" + str(zlib.crc32(pid.encode()) % 10**7).zfill(7)
    return {
        "id": pid,
        "language": "nl",
        "phones": [{"number": number, "kind": "mobile"}],
        "channels": list(channels),
        "addresses": [{"label": "home", "lat": lat, "lon": lon}],
        **extra,
    }


def start_payload(**kw) -> dict:
    body = {
        "type": "burglary",
        "urgency": "time_critical",
        "description": "Man, zwarte hoodie, op een grijze fiets richting centrum.",
        "area": {"type": "circle", "lat": UTRECHT[0], "lon": UTRECHT[1], "radius_m": 2000},
    }
    body.update(kw)
    return body


@pytest.fixture
def routes_to_recording(tmp_path):
    """A rules file that sends every action to the recording channel only."""
    path = tmp_path / "routes.yaml"
    path.write_text("version: 1\nchannels: [recording]\n")
    return str(path)


@pytest.fixture
def hub_cfg(routes_to_recording):
    """A hub's configuration sending every action to the recording channel."""
    return {"hub": {"routes": routes_to_recording}, "channels": {"recording": {"token": "x"}}}


@pytest.fixture
def api(make_hub, recording_channel, hub_cfg):
    """``api(**config)``: an async context manager giving ``(client, hub)``, a test client on the API of
    a hub with ``hub_cfg``, the ``TOKENS`` and ``config`` (sections replaced whole)."""

    @contextlib.asynccontextmanager
    async def factory(**config):
        cfg = {**hub_cfg, "api": {"tokens": TOKENS}, **config}
        async with make_hub(plugins=[RecordingPlugin()], config=cfg) as hub:
            client = TestClient(TestServer(create_app(hub, manage_hub=False)))
            await client.start_server()
            try:
                yield client, hub
            finally:
                await client.close()

    return factory


@pytest.fixture
def partners(make_hub, routes_to_recording):
    """``partners(**config)``: an async context manager giving ``(client, hub, tokens)`` with the example
    organisations loaded (see ``partners_support.partner_hub``)."""
    from partners_support import partner_hub

    return lambda **cfg: partner_hub(make_hub, routes_to_recording, **cfg)


@pytest.fixture
def config_file(tmp_path):
    """A ``burgerhub.toml`` keeping the hub's data under ``tmp_path``."""
    path = tmp_path / "burgerhub.toml"
    path.write_text(f'[hub]\ndata_dir = "{tmp_path / "var"}"\n')
    return path


@pytest.fixture
def run(tmp_path, monkeypatch, config_file):
    """``run(*args, input=None)``: the command line on ``config_file``, from ``tmp_path``, with no
    ``BURGERHUB_CONFIG`` of the machine's; answers click's result."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BURGERHUB_CONFIG", raising=False)

    def invoke(*args, input=None):
        return CliRunner().invoke(cli, ["--config", str(config_file), *args], input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def store_participants() -> list[str]:
    """The participant ids the ``store`` fixture registers (ledger rows are written only for existing
    ones); a module overrides this fixture to register others."""
    return []


@pytest.fixture
async def store(tmp_path, database_url, store_participants):
    """An opened store on the ``hub_backend``, with ``store_participants`` registered."""
    s = open_store(database_url, tmp_path / "db.sqlite3")
    await s.open()
    if store_participants:
        await s.put_participants([(pid, {"id": pid}) for pid in store_participants])
    yield s
    await s.close()
