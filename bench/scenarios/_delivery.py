"""What the delivery scenarios share: the loopback provider in its own process, and a served hub.

* :class:`ProviderProcess` runs ``python -m plugins.sms.loopback`` (Twilio's Messages API, CM's JSON
  gateway and a generic JSON notification route) on 127.0.0.1 and reads its arrival counters, whose
  timestamps are wall-clock (``time.time()``) and so comparable with this process's clock.
* :func:`served_hub` builds a real :class:`~hub.hub.Hub` on a scratch folder, with only the SMS
  channel and rules that route every action to it, and serves its HTTP API on 127.0.0.1.
* :func:`build_participants` writes synthetic SMS participants into a store file once; scenarios copy
  that file into their scratch folder, so the ledger starts empty and the participants are cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
from aiohttp import web

from bench.common import ROOT, Progress

#: the area every synthetic participant lives in, and the action's circle around it
CENTRE = (52.0894, 5.1100)
SPREAD_M = 4000.0
ACTION_RADIUS_M = 5000.0
DISPATCHER_TOKEN = "bench-dispatcher-token-0000000000"
#: the account the loopback provider accepts (its defaults)
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "loopback-auth-token"
CM_TOKEN = "00000000-0000-0000-0000-000000000000"
SENDER = "+3197010000000"


@dataclass
class Arrivals:
    requests: int
    messages: int
    first: float | None
    last: float | None


class ProviderProcess:
    """The loopback SMS provider in a child process, and a client for its counters."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "ProviderProcess":
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "plugins.sms.loopback", "--port", "0",
            cwd=str(ROOT), stdout=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode().strip()
        if not line.startswith("listening on "):
            self.proc.kill()
            await self.proc.wait()
            raise RuntimeError(f"loopback provider did not start: {line!r}")
        self.url = line.removeprefix("listening on ")
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._session is not None:
            await self._session.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    async def reset(self) -> None:
        assert self._session is not None
        async with self._session.post(f"{self.url}/_stats/reset") as resp:
            resp.raise_for_status()

    async def arrivals(self, messages: int = 0, timeout: float = 60.0) -> Arrivals:
        """The counters; with ``messages``, once that many arrived (or ``timeout`` passed)."""
        assert self._session is not None
        params = {"messages": str(messages), "timeout": str(timeout)}
        async with self._session.get(f"{self.url}/_stats", params=params) as resp:
            resp.raise_for_status()
            data = await resp.json()
        return Arrivals(data["requests"], data["messages"], data["first"], data["last"])


def participant(i: int, rng: random.Random) -> dict[str, Any]:
    """One SMS participant at a random spot within ``SPREAD_M`` of the centre, in normalised form."""
    distance = SPREAD_M * math.sqrt(rng.random())
    bearing = rng.random() * 2 * math.pi
    lat = CENTRE[0] + distance * math.cos(bearing) / 111_320.0
    lon = CENTRE[1] + distance * math.sin(bearing) / (111_320.0 * math.cos(math.radians(CENTRE[0])))
    return {
        "id": f"b{i:07d}",
        "language": "en" if rng.random() < 0.1 else "nl",
        "timezone": "Europe/Amsterdam",
        "phones": [{"number": f"+316{10_000_000 + i:08d}", "kind": "mobile"}],
        "email": None,
        "channels": ["sms"],
        "addresses": [{"label": "home", "lat": round(lat, 6), "lon": round(lon, 6)}],
        "quiet_hours": None,
        "paused_until": None,
    }


async def build_participants(path: Path, count: int, seed: int, progress: Progress) -> Path:
    """A store file holding ``count`` SMS participants; built once, then reused from ``path``."""
    from hub.store.sqlite import SQLiteStore

    if path.exists():
        return path
    progress.step(f"building {count:,} SMS participants in {path.name}")
    tmp = path.with_suffix(".tmp")
    for leftover in path.parent.glob(tmp.name + "*"):
        leftover.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    store = SQLiteStore(tmp)
    await store.open()
    try:
        chunk = 20_000
        for start in range(0, count, chunk):
            people = [participant(i, rng) for i in range(start, min(count, start + chunk))]
            await store.put_participants([(p["id"], p) for p in people])
            progress.count("participants", start + len(people), count)
    finally:
        await store.close()
    tmp.rename(path)
    return path


def fresh_store(cache: Path, scratch: Path) -> Path:
    """A scratch folder whose database is a copy of the participant cache (empty ledger)."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    target = scratch / "burgerhub.sqlite3"
    shutil.copyfile(cache, target)
    return target


@contextlib.asynccontextmanager
async def served_hub(
    scratch: Path, sms: dict[str, Any], *, engine: dict[str, Any] | None = None
) -> AsyncIterator[tuple[Any, str]]:
    """A started hub with the SMS channel configured as ``sms``, its API on 127.0.0.1: (hub, url)."""
    import plugins.sms
    from hub.api import create_app
    from hub.config import config_from_dict
    from hub.hub import Hub

    routes = scratch / "routes.yaml"
    routes.write_text("version: 1\nchannels: [sms]\n")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = config_from_dict(
        {
            "hub": {"data_dir": str(scratch), "routes": str(routes), "public_url": url, "secret": "bench-secret"},
            "api": {"tokens": [{"name": "meldkamer", "role": "dispatcher", "token": DISPATCHER_TOKEN}]},
            "engine": engine or {},
            "channels": {"sms": sms},
        }
    )
    hub = Hub(config, plugins=[plugins.sms], entry_points=False)
    if "sms" not in hub.runtimes:
        raise RuntimeError(f"the sms channel is unavailable: {hub.unavailable.get('sms')}")
    runner = web.AppRunner(create_app(hub), access_log=None)
    await runner.setup()  # starts the hub: store, channel, audience index, engine
    try:
        await web.SockSite(runner, sock).start()
        yield hub, url
    finally:
        await runner.cleanup()


class Dispatcher:
    """A dispatcher's client of the hub's HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {DISPATCHER_TOKEN}"}, timeout=aiohttp.ClientTimeout(total=120)
        )

    async def close(self) -> None:
        await self.session.close()

    async def call(self, method: str, path: str, payload: Any = None) -> tuple[dict[str, Any], float, float]:
        """(answer, wall-clock time the request left, wall-clock time the answer was read)."""
        sent = time.time()
        async with self.session.request(method, f"{self.url}{path}", json=payload) as resp:
            body = await resp.json()
            if resp.status >= 300:
                raise RuntimeError(f"{method} {path}: {resp.status} {body}")
        return body, sent, time.time()

    async def wait_sent(self, action_id: str, kind: str, count: int, timeout: float = 60.0) -> dict[str, Any]:
        """Poll the action until ``count`` of its ``kind`` messages are final in the ledger."""
        deadline = time.monotonic() + timeout
        while True:
            action, _, _ = await self.call("GET", f"/v1/actions/{action_id}")
            counts = action["counts"].get("sms", {}).get(kind, {})
            final = sum(counts.get(s, 0) for s in ("sent", "delivered", "failed", "skipped", "cancelled"))
            if final >= count or time.monotonic() > deadline:
                return counts
            await asyncio.sleep(0.05)


def action_payload(n: int) -> dict[str, Any]:
    return {
        "type": "missing_person",
        "urgency": "time_critical",
        "region": "utrecht",
        "description": f"Jongen van 5 jaar, rode jas, blauwe broek, blond haar. Laatst gezien bij het station (ronde {n}).",
        "area": {"type": "circle", "lat": CENTRE[0], "lon": CENTRE[1], "radius_m": ACTION_RADIUS_M},
    }
