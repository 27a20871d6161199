"""Several hub processes on one PostgreSQL: a shared fan-out, one rate limit, and nothing lost to a kill -9.

* Three ``burgerhub serve`` processes (each its own config, data folder and API port, one database,
  one secret) deliver one action's SMS through the loopback Twilio API in this process. One process
  is killed with SIGKILL in the middle of the start fan-out and another in the middle of the closing
  fan-out: every recipient gets its start and its closing, and the only messages sent twice are rows
  the killed process had in flight (claimed, maybe handed to the provider, not yet written back).
* Two hubs in this process on one database share a fan-out (both claim rows) and the channel's rate
  is one limit for both together.

Network traffic stays on 127.0.0.1; the PostgreSQL server is the session's private one (never 5432).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest

import plugins.sms
from hub.testing import toml_text
from plugins.sms.loopback import LoopbackSmsProvider

from conftest import DISPATCHER, UTRECHT, person, start_payload

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "cluster-dispatcher-token-0123456789"
SECRET = "cluster-secret-0123456789abcdef0123456789"
SENDER = "+3197010000000"
#: every entry point but the SMS channel's: fewer idle dispatchers polling the database
OTHER_PLUGINS = ["app", "email", "matrix_boards", "messenger", "twitter", "voice", "webhook"]
START_MARK = "Startmelding-cluster"
END_MARK = "Afsluiting-cluster"


def _number(i: int) -> str:
    return f"+316{20_000_000 + i:08d}"


def _people(count: int, seed: int = 7) -> list[dict]:
    """``count`` SMS participants within about 1.2 km of the action's centre, each a number of their own."""
    rng = random.Random(seed)
    lat, lon = UTRECHT
    return [
        person(f"c{i:05d}", lat + rng.uniform(-0.008, 0.008), lon + rng.uniform(-0.012, 0.012),
               phone=_number(i), channels=("sms",))
        for i in range(count)
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sms_settings(provider: LoopbackSmsProvider, rate: float) -> dict:
    return {
        "base_url": provider.base_url,
        "account_sid": provider.account_sid,
        "auth_token": provider.auth_token,
        "sender": SENDER,
        "rate": rate,
    }


@dataclass
class HubProcess:
    """One ``burgerhub serve`` in a process of its own."""

    name: str
    config: Path
    port: int
    log: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self._out = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from hub.cli import main; main()", "-c", str(self.config), "serve"],
            cwd=str(ROOT), stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)
        if getattr(self, "_out", None) is not None:
            self._out.close()
            self._out = None

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _write_hub_config(tmp: Path, name: str, dsn: str, routes: Path, provider, rate: float) -> HubProcess:
    port = _free_port()
    data_dir = tmp / name
    data_dir.mkdir()
    config = {
        "hub": {"database": dsn, "data_dir": str(data_dir), "secret": SECRET, "routes": str(routes),
                "public_url": f"http://127.0.0.1:{port}"},
        "api": {"host": "127.0.0.1", "port": port,
                "tokens": [{"name": "meldkamer", "role": "dispatcher", "token": TOKEN}]},
        "plugins": {"blocked": OTHER_PLUGINS},
        "engine": {"poll_interval": 0.2, "backoff_base": 0.2},
        "channels": {"sms": _sms_settings(provider, rate)},
    }
    path = tmp / f"{name}.toml"
    path.write_text(toml_text(config))
    return HubProcess(name, path, port, tmp / f"{name}.log")


@dataclass
class Sent:
    """The provider's messages by kind: number -> how many arrived."""

    starts: collections.Counter = field(default_factory=collections.Counter)
    ends: collections.Counter = field(default_factory=collections.Counter)


def _sent(provider: LoopbackSmsProvider) -> Sent:
    out = Sent()
    for m in list(provider.messages):
        if START_MARK in m["Body"]:
            out.starts[m["To"]] += 1
        elif END_MARK in m["Body"]:
            out.ends[m["To"]] += 1
    return out


async def _until(predicate, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(step)


async def _kill_one_in_flight(db, candidates: list[HubProcess], kind: str, action_id: str) -> tuple[HubProcess, set[int]]:
    """SIGKILL the candidate with the most rows of ``kind`` in flight; the ids it had in flight."""
    by_pid = {p.pid: p for p in candidates if p.alive}

    async def busiest():
        rows = await db.fetch(
            # a row's lease is its pending row (hub.store.pg_ledger); the rows in flight are this phase's
            # (counted per owner first: a join with the queue table may be planned on statistics taken
            # while it was empty)
            "SELECT h.pid, h.owner, p.n FROM (SELECT owner, count(*) AS n FROM deliveries_pending"
            " WHERE owner IS NOT NULL GROUP BY owner) p JOIN hub_processes h ON h.owner = p.owner ORDER BY p.n DESC",
        )
        return next(((by_pid[r["pid"]], r["owner"]) for r in rows if r["pid"] in by_pid), None)

    victim, owner = await _until(busiest, 10, f"a process with {kind} rows in flight", step=0.01)

    async def held() -> set[int]:
        return {r[0] for r in await db.fetch("SELECT id FROM deliveries_pending WHERE owner=$1", owner)}

    # what the dead process held: whatever it had claimed and not written back. Frozen first (its
    # sessions, and so its presence, live on: nothing is given back yet), so that statements it had
    # already sent finish and the rows it holds stand still while they are read
    os.kill(victim.pid, signal.SIGSTOP)
    await asyncio.sleep(0.2)
    ids = await held()
    victim.kill()
    return victim, ids | await held()


async def _ledger(db, action_id: str, kind: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT id, address, status, attempts FROM deliveries WHERE action_id=$1 AND kind=$2", action_id, kind
    )


def _check_phase(kind: str, counts: collections.Counter, numbers: set[str], rows, in_flight: set[int]) -> None:
    """Everyone got the message; what arrived twice, and rows tried twice, were the dead process's."""
    assert set(counts) == numbers, f"{kind}: {len(numbers - set(counts))} recipients never got it"
    assert {r["status"] for r in rows} == {"sent"}, collections.Counter(r["status"] for r in rows)
    addresses = {r["id"]: r["address"] for r in rows}
    again = {r["id"] for r in rows if r["attempts"] > 1}
    # while the processes lived, no row was sent twice: only the killed process's rows were retried
    assert again <= in_flight, f"{kind}: rows tried twice that the killed process did not hold: {sorted(again - in_flight)[:10]}"
    assert all(r["attempts"] <= 2 for r in rows)
    duplicates = sum(counts.values()) - len(numbers)
    assert duplicates <= len(in_flight), (kind, duplicates, len(in_flight))
    twice = {number for number, n in counts.items() if n > 1}
    assert twice <= {addresses[i] for i in in_flight if i in addresses}, f"{kind}: duplicates outside the dead process's rows"
    assert all(n <= 2 for n in counts.values())


async def _register(dsn: str, people: list[dict]) -> None:
    """Write participants into the shared store, as any hub process's registry does (validated,
    normalised); the hubs load them from the store when they start."""
    from hub.participants import Participant
    from hub.store.postgres import PostgresStore

    store = PostgresStore(dsn)
    await store.open()
    try:
        normal = [Participant.from_dict(p).to_dict() for p in people]
        await store.put_participants([(p["id"], p) for p in normal])
        assert await store.count_participants() == len(people)
    finally:
        await store.close()


@pytest.fixture
async def provider():
    async with LoopbackSmsProvider() as p:
        yield p


@pytest.mark.slow
async def test_three_processes_lose_nothing_when_one_is_killed_mid_fan_out(postgres_server, tmp_path, provider):
    count, rate = 3000, 500.0
    dsn = postgres_server.create_database(f"cluster_{uuid.uuid4().hex[:8]}")
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nchannels: [sms]\n")
    people = _people(count)
    numbers = {p["phones"][0]["number"] for p in people}
    assert len(numbers) == count

    await _register(dsn, people)

    hubs = [_write_hub_config(tmp_path, f"hub{i}", dsn, routes, provider, rate) for i in range(3)]
    db = await asyncpg.connect(dsn)
    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"},
                                    timeout=aiohttp.ClientTimeout(total=30))
    try:
        for h in hubs:
            h.start()

        async def healthy() -> bool:
            for h in hubs:
                assert h.alive, f"{h.name} exited:\n{h.tail()}"
                try:
                    async with session.get(f"{h.url}/v1/health") as r:
                        if r.status != 200 or (await r.json())["channels"].get("sms") != "running":
                            return False
                except aiohttp.ClientError:
                    return False
            return True

        await _until(healthy, 30, "three healthy hubs", step=0.2)
        assert len(await db.fetch("SELECT owner FROM hub_processes")) == 3

        # -- the start, and a kill -9 in the middle of its fan-out ---------------------------------
        body = start_payload(description=f"{START_MARK}: man, zwarte hoodie, grijze fiets richting centrum.")
        async with session.post(f"{hubs[0].url}/v1/actions", json=body) as r:
            assert r.status == 201, await r.text()
            action = await r.json()
        assert action["audience"]["channels"]["sms"]["targeted"] == count
        t_start = time.monotonic()

        async def some(kind: str, n: int):
            return sum(getattr(_sent(provider), kind).values()) >= n

        await _until(lambda: some("starts", count // 4), 20, "a quarter of the starts")
        first_victim, in_flight = await _kill_one_in_flight(db, hubs, "start", action["id"])
        assert in_flight, "the killed process had nothing in flight"
        at_kill = sum(_sent(provider).starts.values())
        assert at_kill < count, "the fan-out was over before the kill"

        async def starts_done():
            rows = await _ledger(db, action["id"], "start")
            return len(rows) == count and all(r["status"] == "sent" for r in rows) and set(_sent(provider).starts) == numbers

        # the dead process's rows go back to the queue once its heartbeat is stale (about 10 s)
        await _until(starts_done, 40, "every start sent")
        start_seconds = time.monotonic() - t_start
        _check_phase("start", _sent(provider).starts, numbers, await _ledger(db, action["id"], "start"), in_flight)

        # -- the end through a survivor, and another kill -9 during the closing fan-out -------------
        survivors = [h for h in hubs if h.alive]
        assert len(survivors) == 2 and all(h.alive for h in survivors)
        api, other = survivors
        async with session.post(f"{api.url}/v1/actions/{action['id']}/end",
                                json={"result": "arrested", "text": END_MARK}) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["queued"]["end"] == count
        t_end = time.monotonic()
        await _until(lambda: some("ends", count // 4), 20, "a quarter of the closings")
        second_victim, in_flight_end = await _kill_one_in_flight(db, [other], "end", action["id"])
        assert in_flight_end, "the second killed process had nothing in flight"
        assert sum(_sent(provider).ends.values()) < count, "the closing fan-out was over before the kill"

        async def ends_done():
            rows = await _ledger(db, action["id"], "end")
            return all(r["status"] == "sent" for r in rows) and set(_sent(provider).ends) == numbers

        await _until(ends_done, 40, "every closing sent")
        end_seconds = time.monotonic() - t_end
        end_rows = await _ledger(db, action["id"], "end")
        assert len(end_rows) == count
        _check_phase("end", _sent(provider).ends, numbers, end_rows, in_flight_end)
        # the starts are as they were: nobody got a start twice because of the second kill
        assert sum(_sent(provider).starts.values()) - count <= len(in_flight)
        assert api.alive
        print(
            f"\nstart: {count} recipients in {start_seconds:.1f} s, killed {first_victim.name} with"
            f" {len(in_flight)} in flight, {sum(_sent(provider).starts.values()) - count} sent twice;"
            f" end: {end_seconds:.1f} s, killed {second_victim.name} with {len(in_flight_end)} in flight,"
            f" {sum(_sent(provider).ends.values()) - count} sent twice"
        )
    except BaseException:
        for h in hubs:
            print(f"--- {h.name} (pid {h.proc.pid if h.proc else '-'}):\n{h.tail()}")
        raise
    finally:
        for h in hubs:
            with contextlib.suppress(Exception):
                h.kill()
        await session.close()
        await db.close()


# -- two hubs in this process: one fan-out, two claimers, one rate limit ------------------------------


@pytest.fixture
def hub_backend() -> str:
    return "postgresql"


@dataclass
class TimedProvider(LoopbackSmsProvider):
    """The loopback Twilio API, noting when each accepted message arrived."""

    times: list[float] = field(default_factory=list)

    async def _twilio_message(self, request):
        response = await super()._twilio_message(request)
        if response.status == 201:
            self.times.append(time.monotonic())
        return response


def _most_in_window(times: list[float], width: float) -> int:
    """The most arrivals within any ``width`` seconds."""
    import bisect

    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + width) - i for i, t in enumerate(ordered)), default=0)


async def test_two_hubs_share_a_fan_out_and_one_rate_limit(make_hub, database_url, tmp_path):
    count, rate = 700, 200.0
    people = _people(count, seed=11)
    await _register(database_url, people)
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nchannels: [sms]\n")
    async with TimedProvider() as provider:
        config = {"hub": {"routes": str(routes), "secret": SECRET}, "channels": {"sms": _sms_settings(provider, rate)}}
        async with make_hub(plugins=[plugins.sms], config=config) as a, make_hub(plugins=[plugins.sms], config=config) as b:
            assert a.engine.owner != b.engine.owner
            assert {p["owner"] for p in await a.store.processes()} == {a.engine.owner, b.engine.owner}
            owners: set[str] = set()
            db = await asyncpg.connect(database_url)
            try:
                action = await a.actions.start(start_payload(description=f"{START_MARK}: twee hubs."), DISPATCHER)
                assert action["audience"]["channels"]["sms"]["targeted"] == count
                deadline = time.monotonic() + 30
                while len(provider.times) < count and time.monotonic() < deadline:
                    # who holds rows in flight (an outcome clears the owner, so look while it runs)
                    owners.update(r[0] for r in await db.fetch(
                        "SELECT DISTINCT owner FROM deliveries_pending WHERE owner IS NOT NULL"))
                    await asyncio.sleep(0.02)
                assert await a.engine.drain(10) and await b.engine.drain(10)
                rows = await _ledger(db, action["id"], "start")
            finally:
                await db.close()
    # both processes claimed rows of the one fan-out, and none was claimed twice
    assert owners == {a.engine.owner, b.engine.owner}
    assert len(rows) == count and {r["status"] for r in rows} == {"sent"} and {r["attempts"] for r in rows} == {1}
    starts = _sent(provider).starts
    assert set(starts) == {p["phones"][0]["number"] for p in people} and set(starts.values()) == {1}
    # one token bucket for both: a one-second burst (capacity = rate), then the rate, together
    times = sorted(provider.times)
    elapsed = times[-1] - times[0]
    assert (count - rate) / elapsed <= rate * 1.05, f"{count} messages in {elapsed:.2f} s at {rate:.0f}/s"
    # arrivals lag their reservations a little (a window opened by the first arrival reaches a few
    # tens of milliseconds further into the schedule, more on a loaded machine), and each of the two
    # hubs may hold one reserved chunk (50 ms of the rate); a limit per process would allow twice the rate
    slack = rate * 0.1 + 2 * rate * 0.05
    for width in (0.5, 1.0, 2.0):
        assert _most_in_window(times, width) <= rate + rate * width + slack, width


async def test_a_process_whose_sessions_ended_is_gone_before_its_heartbeat_is_stale(database_url):
    """A killed process's rows in flight go back to the queue at the next sweep, not 10 s later; a
    process that only lost its connection takes its presence lock again with its next beat."""
    from hub.store import AuditEntry, NewDelivery
    from hub.store import postgres
    from hub.store.postgres import PostgresStore

    a, b = PostgresStore(database_url), PostgresStore(database_url)
    await a.open()
    await b.open()
    try:
        await a.put_participants([("p1", {"id": "p1"}), ("p2", {"id": "p2"})])
        await a.join("owner-a")
        await b.join("owner-b")
        assert await a.gone() == []
        await a.create_action({"id": "act-1", "status": "active", "urgency": "time_critical", "version": 1},
                              [NewDelivery("sms", f"+3161234567{i}", f"p{i}", "nl") for i in (1, 2)],
                              AuditEntry("t", "dispatcher", "action.start", "act-1"))
        assert len(await b.claim("sms", 1, owner="owner-b", lease_seconds=60)) == 1
        assert len(await a.claim("sms", 1, owner="owner-a", lease_seconds=60)) == 1
        assert await a.requeue_orphans(None) == 0  # both alive: nothing moves

        b._listener.terminate()  # as a kill -9 does: b's sessions end, its heartbeat row stays fresh
        await asyncio.sleep(0.2)
        assert [owner for owner, _ in await a.gone()] == ["owner-b"]
        assert await a.requeue_orphans(None) == 1  # b's row, at once; a's stays leased
        assert {p["owner"] for p in await a.processes()} == {"owner-a"}

        # b was alive after all: its next beat takes the lock again and it counts once more
        await asyncio.wait_for(_until_member(a, "owner-b"), postgres.HEARTBEAT_SECONDS * 3)
        assert await a.gone() == [] and b.listening()
    finally:
        await b.close()
        await a.close()


async def _until_member(store, owner: str) -> None:
    while owner not in {p["owner"] for p in await store.processes()}:
        await asyncio.sleep(0.05)


async def test_the_shared_rate_limiter_takes_tokens_a_chunk_at_a_time():
    """A per-recipient channel's workers do not each make a round trip to the shared bucket."""
    from hub.ratelimit import SharedRateLimiter

    reserved: list[float] = []

    class Bucket:
        async def rate_reserve(self, channel, n, rate, capacity):
            reserved.append(n)
            return 0.0

    limiter = SharedRateLimiter(Bucket(), "sms", 200.0)  # chunks of 10 (50 ms of the rate)
    await asyncio.gather(*(limiter.acquire() for _ in range(100)))
    assert sum(reserved) >= 100 and len(reserved) <= 11
    await limiter.acquire(30)  # a batch larger than a chunk takes what it needs
    assert reserved[-1] >= 30 - limiter.chunk
    reserved.clear()
    await asyncio.sleep(limiter.KEEP_SECONDS * 2)  # tokens left over from long ago are not used
    await limiter.acquire()
    assert reserved == [limiter.chunk]
