"""Audience selection over the synthetic national set: latency, hits and index memory.

The index is loaded the way the hub loads it at start-up (``ParticipantRegistry.load`` over the
set's SQLite store: from the snapshot when it is current, else rebuilt from the store and the
snapshot written). Then ``AudienceIndex.select`` runs with the arguments the hub's action path
passes (``hub/actions.py``: the area, the participant channels with their contact kind, the moment,
quiet hours respected) for three areas:

* a 5 km circle on the Dam in Amsterdam (the dense case: about a hundred thousand hits),
* a 15 km circle on the Dam (greater Amsterdam),
* a polygon around the centre of Rotterdam (both banks of the Maas).

Each area is selected once to warm up, then ``rounds`` times ``REPEAT`` times; every timing is a
value. The selection moment is :data:`bench.dataset.BENCH_MOMENT` (a Tuesday afternoon).

**Following changes.** A hub applies participant changes made by other processes as they come
(``AudienceIndex.upsert`` and ``remove`` per changed participant). For each count in
:data:`FOLLOW_CHANGES`, a freshly loaded index follows that many changes the way a follower does:
80 % move a participant's first address by about a kilometre, 10 % erase a participant, 10 % register
a new one (new id, phone number and e-mail address); changes go through the set's rows (a row may
change again once every row has). After every change, when ``needs_compaction()`` says so, one
compaction step is computed in a thread and applied, as the registry's lock would have it (no change
in between). It is compared with a *fresh* index of the same participants (built from the set's
records with the changes applied, as a load from the store builds it):

* ``dam_5km select`` timings, fresh and followed in turns, and the ratio of each such pair (the
  median is checked: a pair shares the machine's load of the moment, which on a shared machine varies
  more than the difference measured);
* ``AudienceIndex.nbytes()`` and its ratio;
* the peak resident set (``VmHWM``) of a process of its own that loads the snapshot, (follows the
  changes,) selects and saves its snapshot as the registry does, and its ratio;

each ratio with the target :data:`FOLLOW_TARGET` (1.2). The first count is also *replayed*: the same
changes with ``auto_compact`` off and no step aside, as the registry replays changes at start-up.
The followed and fresh selections must be equal (else the scenario fails).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from bench.common import ROOT, BenchContext, Figure, Scenario
from bench.dataset import BENCH_MOMENT, ensure
from hub import snapshot
from hub.audience import AudienceIndex, IndexLoader
from hub.channel import AudienceKind
from hub.models import Circle, Polygon
from hub.participants import Participant
from hub.plugins import collect_channels, make_plugin_manager
from hub.registry import ParticipantRegistry
from hub.store import ParticipantsVersion
from hub.store.sqlite import SQLiteStore

NAME = "audience"
TITLE = "Audience selection over the national set"

DAM = (52.3731, 4.8926)
AREAS = {
    "dam_5km": Circle(lat=DAM[0], lon=DAM[1], radius_m=5_000),
    "dam_15km": Circle(lat=DAM[0], lon=DAM[1], radius_m=15_000),
    "rotterdam_polygon": Polygon(
        points=(
            (51.9380, 4.4350),
            (51.9420, 4.4900),
            (51.9290, 4.5320),
            (51.9000, 4.5350),
            (51.8880, 4.5000),
            (51.8930, 4.4450),
            (51.9150, 4.4200),
        )
    ),
}
REPEAT = 5
LATENCY_TARGETS_MS = {"dam_5km": 20.0, "rotterdam_polygon": 20.0}
"""The target is for areas of about a hundred thousand participants; the 15 km circle holds about three
times as many and is reported without one."""
MEMORY_TARGET_MB = 300.0
FOLLOW_CHANGES = (5_000, 50_000)
"""How many participant changes a loaded index follows, one case each (see the module docs)."""
FOLLOW_TARGET = 1.2
"""Largest ratio of a followed index to a fresh one: selection time, index memory, process peak."""


def participant_channels() -> dict[str, str]:
    """Every installed channel that reaches registered participants, with the contact it uses."""
    pm, report = make_plugin_manager()
    found = collect_channels(pm, report, strict=False)
    return {
        name: cls.contact.value
        for name, cls in sorted(found.items())
        if cls.audience is AudienceKind.PARTICIPANTS and cls.contact is not None
    }


async def load_index(database) -> tuple[AudienceIndex, dict]:
    """The index as the hub loads it, and how it was loaded (source, seconds)."""
    store = SQLiteStore(database)
    await store.open()
    try:
        registry = ParticipantRegistry(store, AudienceIndex(), snapshot_delay=None)
        await registry.load()
        return registry.index, dict(registry.last_load)
    finally:
        await store.close()


async def run(ctx: BenchContext) -> Scenario:
    ds = ensure(ctx.participants, ctx.seed, work=ctx.work, progress=ctx.progress)
    ctx.progress.step(f"audience: loading the index of {ctx.participants:,} participants")
    index, load = await load_index(ds.database)
    ctx.progress.step(f"audience: index loaded from the {load['source']} in {load['seconds']:.1f} s")
    channels = participant_channels()
    scenario = Scenario(NAME, TITLE)
    stats = index.stats()
    scenario.setup = {
        "participants": len(index),
        "addresses": stats["addresses"],
        "channels": channels,
        "at": BENCH_MOMENT.isoformat(),
        "rounds": ctx.rounds,
        "repeat": REPEAT,
        "index_loaded_from": load["source"],
        "areas": {},
    }
    scenario.figures.append(
        Figure(f"index load ({load['source']})", "s", [load["seconds"]], note="ParticipantRegistry.load")
    )
    scenario.figures.append(
        Figure("index memory", "MB", [index.nbytes() / 1e6], MEMORY_TARGET_MB, note="AudienceIndex.nbytes()")
    )
    for name, area in AREAS.items():
        selection = index.select(area, channels, BENCH_MOMENT)  # warm-up
        timings = []
        for _ in range(ctx.rounds * REPEAT):
            t0 = time.perf_counter()
            selection = index.select(area, channels, BENCH_MOMENT)
            timings.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        rows = sum(len(list(selection.recipients(c))) for c in channels)
        materialise_ms = (time.perf_counter() - t0) * 1000
        scenario.setup["areas"][name] = selection.summary()
        target = LATENCY_TARGETS_MS.get(name)
        scenario.figures.append(Figure(f"{name} select", "ms", timings, target, note="AudienceIndex.select"))
        scenario.figures.append(
            Figure(f"{name} in area", "participants", [float(selection.in_area)], better="higher")
        )
        scenario.figures.append(
            Figure(
                f"{name} recipient rows",
                "ms",
                [materialise_ms],
                note=f"{rows:,} (channel, address) rows materialised, as the action path does",
            )
        )
        ctx.progress.step(
            f"audience: {name}: {selection.in_area:,} in area, median select "
            f"{sorted(timings)[len(timings) // 2]:.1f} ms"
        )
    for n in FOLLOW_CHANGES:
        await follow_case(ctx, ds.database, n, channels, scenario, replay=n == FOLLOW_CHANGES[0])
    return scenario


# -- following changes -------------------------------------------------------------------------


def follow_changes(database: Path, n: int) -> Iterator[tuple[str, str, dict[str, Any] | None]]:
    """``n`` participant changes as other processes make them: ``("upsert", id, record)`` or
    ``("remove", id, None)``, deterministic for a set (see the module docs for the mix)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        last = conn.execute("SELECT max(rowid) FROM participants").fetchone()[0] or 0
        step = max(1, last // n)
        i = lap = 0
        while i < n:
            rows = conn.execute(
                "SELECT id, data FROM participants WHERE rowid % ? = ? ORDER BY rowid", (step, lap % step)
            )
            for pid, data in rows:
                if i >= n:
                    break
                record = json.loads(data)
                kind = i % 10
                if kind == 0:
                    yield "remove", pid, None
                elif kind == 1:
                    new = f"follow-{i}"
                    record["id"] = new
                    record["phones"] = [{"number": f"+3169{i % 10_000_000:07d}", "kind": "mobile"}]
                    if record.get("email"):
                        record["email"] = f"{new}@example.org"
                    yield "upsert", new, record
                else:
                    home = record["addresses"][0]
                    home["lat"] = round(home["lat"] + 0.009 * (1 + lap), 6)
                    yield "upsert", pid, record
                i += 1
            lap += 1
    finally:
        conn.close()


async def follow(index: AudienceIndex, changes, *, steps: bool = True) -> dict[str, Any]:
    """Apply ``changes`` to ``index`` as a follower does; with ``steps``, a compaction step computed in a
    thread whenever one is due (nothing changes meanwhile). Returns counts and timings."""
    t0 = time.perf_counter()
    kinds: Counter[str] = Counter()
    step_seconds: list[float] = []
    applied = 0
    # an index without compaction steps (from before they existed) compacts on its own (auto_compact)
    due = getattr(index, "needs_compaction", None) if steps else None
    for op, pid, record in changes:
        if op == "remove":
            index.remove(pid)
        else:
            index.upsert(Participant.from_dict(record, validate=False))  # trusted, as the registry's replay
        applied += 1
        if due is not None and due():
            s0 = time.perf_counter()
            step = await asyncio.to_thread(index.compaction)
            if not index.apply_compaction(step):
                raise RuntimeError("a compaction step computed aside was refused")
            kinds[step.kind] += 1
            step_seconds.append(time.perf_counter() - s0)
    return {
        "changes": applied,
        "seconds": round(time.perf_counter() - t0, 2),
        "steps": dict(kinds),
        "step_seconds_max": round(max(step_seconds, default=0.0), 3),
        "step_seconds_total": round(sum(step_seconds), 2),
    }


def final_records(database: Path, n: int) -> dict[str, dict[str, Any] | None]:
    """Every participant the first ``n`` changes touch, with their last record (``None``: erased)."""
    final: dict[str, dict[str, Any] | None] = {}
    for _, pid, record in follow_changes(database, n):
        final[pid] = record
    return final


def fresh_index(database: Path, final: dict[str, dict[str, Any] | None], chunk: int = 20_000) -> AudienceIndex:
    """A fresh index of the set's participants with the changes applied, built as a load from the store
    builds it (stored records, in rowid order, newcomers last)."""
    loader = IndexLoader(AudienceIndex())
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    collecting = gc.isenabled()
    gc.disable()
    try:
        texts: list[str] = []
        seen: set[str] = set()
        for pid, data in conn.execute("SELECT id, data FROM participants ORDER BY rowid"):
            if pid in final:
                seen.add(pid)
                record = final[pid]
                if record is None:
                    continue
                data = json.dumps(record)
            texts.append(data)
            if len(texts) >= chunk:
                loader.add_json(texts)
                texts = []
        texts += [json.dumps(r) for pid, r in final.items() if r is not None and pid not in seen]
        loader.add_json(texts)
    finally:
        conn.close()
        if collecting:
            gc.enable()
    return loader.finish()


def interleaved_timings(a: AudienceIndex, b: AudienceIndex, channels, runs: int) -> tuple[list[float], list[float]]:
    """Selection timings of the 5 km Dam circle on two indexes, taken in turns (so load changes on a
    shared machine hit both alike); fails when the two select differently."""
    area = AREAS["dam_5km"]
    first = [index.select(area, channels, BENCH_MOMENT) for index in (a, b)]  # warm-up
    if first[0].summary() != first[1].summary():
        raise RuntimeError(f"a followed index selects differently: {first[0].summary()} != {first[1].summary()}")
    timings: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for index, out in zip((a, b), timings):
            t0 = time.perf_counter()
            index.select(area, channels, BENCH_MOMENT)
            out.append((time.perf_counter() - t0) * 1000)
    return timings


def median(values: list[float]) -> float:
    return Figure("", "", values).median


def peak_in_process(args: list[str]) -> dict[str, Any]:
    """Run :func:`child` in a process of its own; its report (peak resident set and more)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from bench.scenarios.audience import child; child(sys.argv[1:])", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"measuring process failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child(argv: list[str]) -> None:
    """``SNAPSHOT [DATABASE N]``: load the index from the snapshot as the hub does, follow the first
    ``N`` changes of the set at ``DATABASE`` (as :func:`follow`), select the 5 km Dam circle, save a
    snapshot as the registry does; print the peak resident set (MB) and the index's size as JSON."""
    path = Path(argv[0])

    async def main() -> dict[str, Any]:
        found = await asyncio.to_thread(snapshot.read, path)
        index = AudienceIndex.from_snapshot(found.meta, found.arrays)
        del found
        report: dict[str, Any] = {}
        if len(argv) > 1:
            report["follow"] = await follow(index, follow_changes(Path(argv[1]), int(argv[2])))
        channels = participant_channels()
        report["in_area"] = index.select(AREAS["dam_5km"], channels, BENCH_MOMENT).in_area
        # the registry's save (ParticipantRegistry._save): a step aside if one is due, then the snapshot
        if not index.compacted:
            index.apply_compaction(await asyncio.to_thread(index.compaction))
        meta, arrays = index.snapshot()
        with tempfile.TemporaryDirectory() as scratch:
            saved = Path(scratch) / "x.audience"
            await asyncio.to_thread(snapshot.write, saved, ParticipantsVersion("bench", 1), meta, arrays)
        del meta, arrays
        report["nbytes_mb"] = index.nbytes() / 1e6
        return report

    report = asyncio.run(main())
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            report[key] = int(rest.split()[0]) * 1024 / 1e6
    print(json.dumps(report))


async def follow_case(
    ctx: BenchContext, database: Path, n: int, channels, scenario: Scenario, *, replay: bool
) -> None:
    """One :data:`FOLLOW_CHANGES` case: figures side by side, fresh and followed (see the module docs)."""
    label = f"followed {n:,}"
    ctx.progress.step(f"audience: {label}: building the fresh index of the same participants")
    final = await asyncio.to_thread(final_records, database, n)
    fresh = await asyncio.to_thread(fresh_index, database, final)
    del final
    ctx.progress.step(f"audience: {label}: following {n:,} changes")
    followed, _ = await load_index(database)
    report = await follow(followed, follow_changes(database, n))
    ctx.progress.step(f"audience: {label}: applied in {report['seconds']:.1f} s, steps {report['steps']}")
    runs = 2 * ctx.rounds * REPEAT
    fresh_ms, followed_ms = interleaved_timings(fresh, followed, channels, runs)
    setup: dict[str, Any] = {"follow": report, "stats": followed.stats(), "fresh_stats": fresh.stats()}
    cases = [(label, followed, fresh_ms, followed_ms)]
    if replay:
        replayed, _ = await load_index(database)
        replayed.auto_compact = False
        setup["replay"] = await follow(replayed, follow_changes(database, n), steps=False)
        setup["replay_stats"] = replayed.stats()
        fresh_again, replayed_ms = interleaved_timings(fresh, replayed, channels, runs)
        cases.append((f"replayed {n:,}", replayed, fresh_again, replayed_ms))
    figures = scenario.figures
    figures.append(Figure(f"fresh {n:,}: dam_5km select", "ms", fresh_ms, note="fresh index of the same participants"))
    for name, index, base_ms, timings in cases:
        figures.append(Figure(f"{name}: dam_5km select", "ms", timings, note="in turns with the fresh index"))
        figures.append(
            Figure(f"{name}: select / fresh", "x", [b / a for a, b in zip(base_ms, timings)], FOLLOW_TARGET,
                   note="each selection over the fresh one just before it")
        )
    figures.append(Figure(f"fresh {n:,}: index memory", "MB", [fresh.nbytes() / 1e6], note="AudienceIndex.nbytes()"))
    for name, index, _, _ in cases:
        figures.append(Figure(f"{name}: index memory", "MB", [index.nbytes() / 1e6], note="AudienceIndex.nbytes()"))
        figures.append(Figure(f"{name}: memory / fresh", "x", [index.nbytes() / fresh.nbytes()], FOLLOW_TARGET))
    ctx.progress.step(
        f"audience: {label}: select {median(followed_ms):.1f} ms (fresh {median(fresh_ms):.1f} ms), "
        f"memory {followed.nbytes() / 1e6:.0f} MB (fresh {fresh.nbytes() / 1e6:.0f} MB)"
    )
    del cases, followed
    if replay:
        del replayed

    # peak resident set: a process that loads a snapshot of the fresh index, and one that loads the set's
    # snapshot and follows the changes; each selects and saves as the hub does
    with tempfile.TemporaryDirectory(dir=ctx.work) as scratch:
        fresh_snapshot = Path(scratch) / "fresh.audience"
        meta, arrays = fresh.snapshot()
        await asyncio.to_thread(snapshot.write, fresh_snapshot, ParticipantsVersion("bench", 1), meta, arrays)
        del meta, arrays, fresh
        gc.collect()
        ctx.progress.step(f"audience: {label}: peak memory of a process of its own, fresh and following")
        fresh_peak = await asyncio.to_thread(peak_in_process, [str(fresh_snapshot)])
        followed_peak = await asyncio.to_thread(
            peak_in_process, [str(snapshot.path_for(database)), str(database), str(n)]
        )
    setup["peak"] = {"fresh": fresh_peak, "followed": followed_peak}
    figures.append(Figure(f"fresh {n:,}: peak RSS", "MB", [fresh_peak["VmHWM"]], note="load, select, save (VmHWM)"))
    figures.append(
        Figure(f"{label}: peak RSS", "MB", [followed_peak["VmHWM"]], note="load, follow, select, save (VmHWM)")
    )
    figures.append(
        Figure(f"{label}: peak RSS / fresh", "x", [followed_peak["VmHWM"] / fresh_peak["VmHWM"]], FOLLOW_TARGET)
    )
    scenario.setup.setdefault("follow", {})[str(n)] = setup
    ctx.progress.step(
        f"audience: {label}: peak {followed_peak['VmHWM']:.0f} MB (fresh {fresh_peak['VmHWM']:.0f} MB)"
    )
