"""One fan-out of 100,000 SMS and its closing on SQLite and on PostgreSQL with one, two and three hubs.

Every case runs ``burgerhub serve`` processes (each its own config, data folder and API port) with
the SMS channel on its CM bulk adapter pointed at the loopback provider in a process of its own, as
the ``fanout`` scenario does, and 100,000 participants with SMS in the action's area (built once and
cached; on PostgreSQL copied from a template database, so each case starts with an empty ledger):

* ``sqlite_1``: one hub process on the embedded store (the ``fanout`` set-up, as a process of its own);
* ``postgres_1``, ``postgres_2``, ``postgres_3``: one, two and three hub processes on one private
  PostgreSQL server (:class:`hub.store.pgserver.PrivatePostgres`: 127.0.0.1, a free port, never 5432);
* ``postgres_3_kill``: three processes, one of them (one holding closing rows in flight) killed with
  SIGKILL once half of the closing messages have reached the provider.

Each round a dispatcher starts a fresh action with ``POST /v1/actions`` on the first process and, once
every start reached the provider and the ledger says so, ends it with ``POST /v1/actions/{id}/end``
(on the last process: a survivor in the kill case). Figures per case: seconds from each API answer to
the last start and to the last closing at the provider (wall clock), start recipients per second, and
CPU-seconds per 1,000 messages (starts and closings) summed over every hub process and every process
of the PostgreSQL server (the postmaster, its live children, and the children that exited meanwhile,
from ``/proc/<pid>/stat``), measured from just before the start to the end of the closing.

The rounds of ``sqlite_1`` and ``postgres_1`` are taken in turns (sqlite_1, postgres_1, sqlite_1, ...,
each on freshly started hubs), so that a shared machine whose speed drifts weighs on both alike; their
ratio is taken pair by pair. Rounds: ``ctx.rounds``, at most 2 (each case is a minute or so at 100,000); quick mode: 2,000
recipients, one round (a smoke test: too small to judge the bars by). The CPU window includes the
dispatcher's polling of ``GET /v1/actions/{id}`` until the ledger shows every message final.

Bars: PostgreSQL with one process reaches at least 70 % of SQLite's start recipients per second; three
processes spend at most 1.3 times one process's CPU per 1,000 messages; with one of three killed at
half of the closing, the last closing arrives within twice the undisturbed three-process time, and
every closing row ends sent (nothing lost; the messages sent twice are reported).

Standalone::

    python -m bench.scenarios.cluster [--quick] [--rounds N] [--only sqlite_1 postgres_1 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hub.testing import toml_text  # noqa: E402
from bench.common import ROOT, BenchContext, Figure, Progress, Scenario, machine  # noqa: E402
from bench.scenarios._delivery import (  # noqa: E402
    ACTION_RADIUS_M,
    CM_TOKEN,
    DISPATCHER_TOKEN,
    SPREAD_M,
    Dispatcher,
    ProviderProcess,
    action_payload,
    build_participants,
    fresh_store,
)

NAME = "cluster"
TITLE = "Fan-out and closing of 100,000 SMS on SQLite and on PostgreSQL with 1, 2 and 3 hub processes"

CASES = ("sqlite_1", "postgres_1", "postgres_2", "postgres_3", "postgres_3_kill")
#: PostgreSQL with one process against SQLite: start recipients per second, at least
PG_VS_SQLITE_TARGET = 0.70
#: three processes against one: CPU-seconds per 1,000 messages, at most
CPU_3_VS_1_TARGET = 1.3
#: the last closing with one of three killed half-way, against the undisturbed three, at most
KILL_SLOWDOWN_TARGET = 2.0
#: messages per second the SMS channel may send, for the whole cluster (the provider is the bound)
RATE = 100_000
SECRET = "bench-cluster-secret-0123456789abcdef"
OTHER_PLUGINS = ["app", "email", "matrix_boards", "messenger", "twitter", "voice", "webhook"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- CPU time from /proc ---------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own CPU-seconds, CPU-seconds of reaped children) of a process, or None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    # after the command: state ppid ... utime(14) stime(15) cutime(16) cstime(17), numbered from 3
    ppid = int(fields[1])
    own = (int(fields[11]) + int(fields[12])) / CLK_TCK
    reaped = (int(fields[13]) + int(fields[14])) / CLK_TCK
    return ppid, own, reaped


def _children(parent: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None and st[0] == parent:
                out.append(int(entry))
    return out


def cpu_seconds(hub_pids: Sequence[int], postmaster: int | None, known: dict[int, float] | None = None) -> float:
    """CPU-seconds so far of the hub processes and (with ``postmaster``) of the whole PostgreSQL server:
    the postmaster, its live children and the children it reaped (backends that ended). ``known``: the
    last reading of hub processes that may have ended since (a killed one), used when they are gone."""
    total = 0.0
    for pid in hub_pids:
        st = _stat(pid)
        if st is not None:
            total += st[1] + st[2]
        elif known and pid in known:
            total += known[pid]
    if postmaster is not None:
        st = _stat(postmaster)
        if st is not None:
            total += st[1] + st[2]
        for child in _children(postmaster):
            st = _stat(child)
            if st is not None:
                total += st[1] + st[2]
    return total


# -- hub processes ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class HubProcess:
    """``burgerhub serve`` in a process of its own, with its own config file, data folder and port."""

    name: str
    folder: Path
    port: int
    proc: subprocess.Popen | None = None
    _log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, config: dict[str, dict[str, Any]]) -> None:
        path = self.folder / "burgerhub.toml"
        path.write_text(toml_text(config))
        self._log = open(self.folder / "serve.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from hub.cli import main; main()", "-c", str(path), "serve"],
            cwd=str(ROOT), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.folder / "serve.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def hub_config(hub: HubProcess, database: str, routes: Path, provider_url: str) -> dict[str, dict[str, Any]]:
    config: dict[str, dict[str, Any]] = {
        "hub": {"data_dir": str(hub.folder), "secret": SECRET, "routes": str(routes), "public_url": hub.url},
        "api": {"host": "127.0.0.1", "port": hub.port,
                "tokens": [{"name": "meldkamer", "role": "dispatcher", "token": DISPATCHER_TOKEN}]},
        "plugins": {"blocked": OTHER_PLUGINS},
        "channels": {"sms": {"provider": "cm", "base_url": provider_url, "product_token": CM_TOKEN,
                             "sender": "Burgernet", "rate": RATE}},
    }
    if database:
        config["hub"]["database"] = database
    return config


async def wait_healthy(hubs: Sequence[HubProcess], timeout: float = 180.0) -> None:
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        for hub in hubs:
            while True:
                if not hub.alive:
                    raise RuntimeError(f"{hub.name} exited:\n{hub.tail()}")
                try:
                    async with session.get(f"{hub.url}/v1/health") as resp:
                        if resp.status == 200:
                            break
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{hub.name} not healthy after {timeout:.0f} s:\n{hub.tail()}")
                await asyncio.sleep(0.1)


# -- the participants on PostgreSQL --------------------------------------------------------------


async def participants_template(pg, cache: Path, name: str, progress: Progress) -> str:
    """A database holding the cached participants (the hub's schema), to copy for every case."""
    from hub.store.postgres import PostgresStore

    dsn = pg.create_database(name)
    store = PostgresStore(dsn)
    await store.open()
    try:
        with sqlite3.connect(cache) as db:
            rows = db.execute("SELECT id, data FROM participants ORDER BY id").fetchall()
        chunk = 20_000
        for start in range(0, len(rows), chunk):
            await store.put_participants([(pid, json.loads(data)) for pid, data in rows[start : start + chunk]])
            progress.count("participants into PostgreSQL", min(start + chunk, len(rows)), len(rows))
        await store._p().execute("VACUUM ANALYZE participants")
    finally:
        await store.close()
    return dsn


async def owner_pids_in_flight(dsn: str) -> list[tuple[int, int]]:
    """(client pid, rows in flight) per hub process, most first."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            # a row's lease is its pending row (hub.store.pg_ledger); every row in flight now is one of
            # this action's closings (its starts were all final before it ended). Counted per owner
            # first: the queue table's statistics may date from when it was empty, and a join with it
            # planned on them can take minutes
            "SELECT h.pid, p.n FROM (SELECT owner, count(*) AS n FROM deliveries_pending"
            " WHERE owner IS NOT NULL GROUP BY owner) p JOIN hub_processes h ON h.owner = p.owner ORDER BY p.n DESC",
        )
        return [(r["pid"], r["n"]) for r in rows]
    finally:
        await conn.close()


# -- one case --------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    start_last: list[float] = field(default_factory=list)
    end_last: list[float] = field(default_factory=list)
    start_rate: list[float] = field(default_factory=list)
    cpu_per_1000: list[float] = field(default_factory=list)
    #: the share of the hub processes in ``cpu_per_1000`` (the rest is PostgreSQL's)
    hub_cpu_per_1000: list[float] = field(default_factory=list)
    hub_start_s: float = 0.0
    lost: list[float] = field(default_factory=list)
    duplicates: list[float] = field(default_factory=list)
    killed_in_flight: list[int] = field(default_factory=list)

    def merge(self, other: "CaseResult") -> None:
        """Add the rounds of another run of the same case."""
        for name in ("start_last", "end_last", "start_rate", "cpu_per_1000", "hub_cpu_per_1000", "lost",
                     "duplicates", "killed_in_flight"):
            getattr(self, name).extend(getattr(other, name))
        self.hub_start_s = max(self.hub_start_s, other.hub_start_s)


async def run_case(
    name: str, processes: int, database: str, folder: Path, provider: ProviderProcess, recipients: int,
    rounds: int, progress: Progress, *, postmaster: int | None = None, kill: bool = False,
    staged: Path | None = None,
) -> CaseResult:
    """``processes`` hubs on ``database`` (empty: the embedded store, the database file ``staged``)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    routes = folder / "routes.yaml"
    routes.write_text("version: 1\nchannels: [sms]\n")
    hubs = []
    for i in range(processes):
        sub = folder / f"hub{i}"
        sub.mkdir(exist_ok=True)
        hubs.append(HubProcess(f"{name}/hub{i}", sub, _free_port()))
    out = CaseResult()
    t0 = time.perf_counter()
    try:
        for hub in hubs:
            if staged is not None:  # the embedded store lives in the data folder: a copy of the cached set
                shutil.move(str(staged), hub.folder / "burgerhub.sqlite3")
            hub.start(hub_config(hub, database, routes, provider.url))
        await wait_healthy(hubs)
        out.hub_start_s = time.perf_counter() - t0
        first, last = hubs[0], hubs[-1]
        starter, ender = Dispatcher(first.url), Dispatcher(last.url)
        try:
            for n in range(rounds):
                pids = [h.proc.pid for h in hubs if h.alive]
                known: dict[int, float] = {}
                cpu0, hub0 = cpu_seconds(pids, postmaster), cpu_seconds(pids, None)
                await provider.reset()
                action, _, answered = await starter.call("POST", "/v1/actions", action_payload(n))
                targeted = action["audience"]["channels"]["sms"]["targeted"]
                if targeted != recipients:
                    raise RuntimeError(f"{name}: the action targets {targeted:,} of {recipients:,} participants")
                arrived = await provider.arrivals(recipients, timeout=300)
                if arrived.messages < recipients:
                    raise RuntimeError(f"{name}: {arrived.messages:,} of {recipients:,} starts arrived")
                out.start_last.append(arrived.last - answered)
                out.start_rate.append(recipients / (arrived.last - answered))
                await ender.wait_sent(action["id"], "start", recipients, timeout=120)

                await provider.reset()
                _, _, answered = await ender.call(
                    "POST", f"/v1/actions/{action['id']}/end", {"result": "found", "text": "Hij is gevonden."}
                )
                if kill:
                    await provider.arrivals(recipients // 2, timeout=300)
                    in_flight = dict(await owner_pids_in_flight(database))
                    victims = [h for h in hubs[:-1] if h.alive and h.proc.pid in in_flight] or [
                        h for h in hubs[:-1] if h.alive]
                    victim = max(victims, key=lambda h: in_flight.get(h.proc.pid, 0))
                    known[victim.proc.pid] = cpu_seconds([victim.proc.pid], None)
                    victim.stop(signal.SIGKILL)
                    out.killed_in_flight.append(in_flight.get(victim.proc.pid, 0))
                    progress.step(f"{name}: killed {victim.name} at half of the closing"
                                  f" ({in_flight.get(victim.proc.pid, 0):,} closing rows in flight)")
                arrived = await provider.arrivals(recipients, timeout=300)
                if arrived.messages < recipients:
                    raise RuntimeError(f"{name}: {arrived.messages:,} of {recipients:,} closings arrived")
                counts = await ender.wait_sent(action["id"], "end", recipients, timeout=120)
                # once the ledger has every closing sent, the provider has seen the last of them (with a
                # kill, the count above may be reached early by messages that arrive twice)
                final = await provider.arrivals()
                out.end_last.append(final.last - answered)
                out.lost.append(float(recipients - counts.get("sent", 0)))
                # messages beyond one per recipient: rows a killed process had handed over unrecorded
                out.duplicates.append(float(final.messages - recipients))
                cpu = cpu_seconds(pids, postmaster, known) - cpu0
                out.cpu_per_1000.append(cpu / (2 * recipients / 1000))
                out.hub_cpu_per_1000.append((cpu_seconds(pids, None, known) - hub0) / (2 * recipients / 1000))
                progress.step(
                    f"{name} round {n + 1}/{rounds}: last start {out.start_last[-1]:.2f} s"
                    f" ({out.start_rate[-1]:,.0f}/s), last closing {out.end_last[-1]:.2f} s,"
                    f" {out.cpu_per_1000[-1]:.3f} CPU-s per 1,000 messages"
                    f" (hub processes {out.hub_cpu_per_1000[-1]:.3f})"
                    + (f", {out.duplicates[-1]:.0f} sent twice, {out.lost[-1]:.0f} lost" if kill else "")
                )
                if kill and n + 1 < rounds:  # the next round starts with three processes again
                    for hub in hubs:
                        if not hub.alive:
                            hub.stop()
                            hub.start(hub_config(hub, database, routes, provider.url))
                    await wait_healthy(hubs)
        finally:
            await starter.close()
            await ender.close()
    except BaseException:
        for hub in hubs:
            progress.step(f"--- {hub.name}:\n{hub.tail()}")
        raise
    finally:
        for hub in hubs:
            hub.stop()
    return out


# -- the scenario ----------------------------------------------------------------------------------


async def run(ctx: BenchContext, cases: Sequence[str] = CASES) -> Scenario:
    from hub.store.pgserver import PrivatePostgres

    recipients = 2_000 if ctx.quick else 100_000
    rounds = 1 if ctx.quick else max(1, min(ctx.rounds, 2))
    work = ctx.work / "cluster"
    cache = await build_participants(
        ctx.work / "fanout" / f"participants-{recipients}-{ctx.seed}.sqlite3", recipients, ctx.seed, ctx.progress
    )
    results: dict[str, CaseResult] = {}
    pg_setup: dict[str, Any] = {}
    pg_cases = [c for c in cases if c.startswith("postgres_")]
    # the bar compares two cases: their rounds are taken in turns (A B A B), so that a machine whose
    # speed drifts during the run weighs on both alike, and the ratio is taken pair by pair
    paired = "sqlite_1" in cases and "postgres_1" in cases
    pair_ratios: list[float] = []
    async with ProviderProcess() as provider, contextlib.AsyncExitStack() as stack:
        postmaster = None
        template = "participants"
        if pg_cases:
            t0 = time.perf_counter()
            pg = stack.enter_context(PrivatePostgres())
            await participants_template(pg, cache, template, ctx.progress)
            pg_setup = {"server": pg.execute("SHOW server_version")[0][0], "settings": pg.settings,
                        "template_s": round(time.perf_counter() - t0, 1)}
            postmaster = int((pg.datadir / "postmaster.pid").read_text().split("\n", 1)[0])

        async def sqlite_case(n: int) -> CaseResult:
            ctx.progress.step(f"cluster: sqlite_1 on {recipients:,} participants")
            staging = work / "sqlite_staging"
            fresh_store(cache, staging)
            return await run_case(
                "sqlite_1", 1, "", work / "sqlite_1", provider, recipients, n, ctx.progress,
                staged=staging / "burgerhub.sqlite3",
            )

        async def pg_case(case: str, n: int) -> CaseResult:
            ctx.progress.step(f"cluster: {case} on {recipients:,} participants")
            dsn = pg.create_database(case, template=template)
            try:
                return await run_case(
                    case, int(case.split("_")[1]), dsn, work / case, provider, recipients, n, ctx.progress,
                    postmaster=postmaster, kill=case.endswith("_kill"),
                )
            finally:
                pg.drop_database(case)

        if paired:
            for _ in range(rounds):
                a = await sqlite_case(1)
                b = await pg_case("postgres_1", 1)
                results.setdefault("sqlite_1", CaseResult()).merge(a)
                results.setdefault("postgres_1", CaseResult()).merge(b)
                pair_ratios.append(b.start_rate[0] / a.start_rate[0])
        elif "sqlite_1" in cases:
            results["sqlite_1"] = await sqlite_case(rounds)
        for case in pg_cases:
            if not (paired and case == "postgres_1"):
                results[case] = await pg_case(case, rounds)
    shutil.rmtree(work, ignore_errors=True)

    figures: list[Figure] = []
    for case, r in results.items():
        figures += [
            Figure(f"{case} last start", "s", r.start_last, None, "lower", "API answer -> last start at the provider"),
            Figure(f"{case} last closing", "s", r.end_last, None, "lower", "API answer -> last closing at the provider"),
            Figure(f"{case} start rate", "recipients/s", r.start_rate, None, "higher",
                   "recipients over the time from the API answer to the last start"),
            Figure(f"{case} CPU per 1,000", "CPU-s", r.cpu_per_1000, None, "lower",
                   "hub processes + PostgreSQL server, per 1,000 messages (starts and closings)"),
            Figure(f"{case} hub CPU per 1,000", "CPU-s", r.hub_cpu_per_1000, None, "lower",
                   "the hub processes' share of the CPU per 1,000 messages"),
        ]
    med = {case: {k: statistics.median(getattr(r, k)) for k in ("start_rate", "end_last", "cpu_per_1000")}
           for case, r in results.items()}
    if pair_ratios:
        figures.append(Figure("postgres_1 vs sqlite_1 start rate", "ratio", pair_ratios,
                              PG_VS_SQLITE_TARGET, "higher",
                              "start recipients/s, rounds taken in turns (A B A B), one ratio per pair"))
    if "postgres_1" in med and "postgres_3" in med:
        figures.append(Figure("postgres_3 vs postgres_1 CPU per 1,000", "ratio",
                              [med["postgres_3"]["cpu_per_1000"] / med["postgres_1"]["cpu_per_1000"]],
                              CPU_3_VS_1_TARGET, "lower", "CPU-seconds per 1,000 messages, medians"))
    if "postgres_3" in med and "postgres_3_kill" in med:
        figures.append(Figure("postgres_3_kill vs postgres_3 last closing", "ratio",
                              [med["postgres_3_kill"]["end_last"] / med["postgres_3"]["end_last"]],
                              KILL_SLOWDOWN_TARGET, "lower", "one of three killed at half of the closing, medians"
                              + (" (quick mode: the 1-2 s until a death is noticed outweighs a fan-out this small;"
                                 " judge it at 100,000)" if ctx.quick else "")))
        kill = results["postgres_3_kill"]
        figures.append(Figure("postgres_3_kill lost closings", "rows", kill.lost, 0.0, "lower",
                              "closing rows not sent in the end"))
        figures.append(Figure("postgres_3_kill sent twice", "messages", kill.duplicates, None, "lower",
                              "closings beyond one per recipient (the killed process's rows in flight)"))
    setup = {
        "recipients": recipients,
        "rounds": rounds,
        "cases": list(results),
        "channel": "sms, provider cm (bulk JSON gateway, batches of 1,000), loopback provider in its own process",
        "rate_per_s": RATE,
        "hub_start_s": {case: round(r.hub_start_s, 1) for case, r in results.items()},
        "killed_in_flight": results["postgres_3_kill"].killed_in_flight if "postgres_3_kill" in results else None,
        "postgres": pg_setup,
        "area": f"participants within {SPREAD_M:.0f} m of Utrecht Centraal, action radius {ACTION_RADIUS_M:.0f} m",
        "cpu": "utime+stime (+ reaped children) from /proc/<pid>/stat of every hub process, the postmaster"
               " and its children, from before the start to after the closing",
    }
    return Scenario(NAME, TITLE, figures=figures, setup=setup)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    ctx = BenchContext(quick=args.quick, rounds=args.rounds)
    result = asyncio.run(run(ctx, args.only))
    from bench.run import table

    print(table({NAME: result}))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), NAME: result.to_dict()}, indent=2, default=str))
