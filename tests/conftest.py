"""Shared fixtures for the core tests (the plugin-author helpers come from ``hub.testing``)."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from hub.actions import Actor

DISPATCHER = Actor("meldkamer", "dispatcher")
UTRECHT = (52.0894, 5.1100)

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
