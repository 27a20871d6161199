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
"""

from __future__ import annotations

import time

from bench.common import BenchContext, Figure, Scenario
from bench.dataset import BENCH_MOMENT, ensure
from hub.audience import AudienceIndex
from hub.channel import AudienceKind
from hub.models import Circle, Polygon
from hub.plugins import collect_channels, make_plugin_manager
from hub.registry import ParticipantRegistry
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
    return scenario
