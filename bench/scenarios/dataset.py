"""The synthetic national participant set: built (or found in the cache) before the other scenarios.

Reports how long building took (generation plus writing SQLite) when it was built in this run; a
cached set reports no build time. See :mod:`bench.dataset` for what the set holds.
"""

from __future__ import annotations

import sqlite3

from bench.common import BenchContext, Figure, Scenario
from bench.dataset import ensure

NAME = "dataset"
TITLE = "Synthetic national participant set"

BUILD_TARGET_S = 180.0


async def run(ctx: BenchContext) -> Scenario:
    ds = ensure(ctx.participants, ctx.seed, work=ctx.work, progress=ctx.progress)
    conn = sqlite3.connect(f"{ds.database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        count = conn.execute("SELECT count(*) FROM participants").fetchone()[0]
    finally:
        conn.close()
    built = ds.built_in_s is not None
    return Scenario(
        NAME,
        TITLE,
        figures=[
            Figure(
                "build",
                "s",
                [ds.built_in_s] if built else [],
                BUILD_TARGET_S,
                note="generated and written in this run" if built else "cached from an earlier run",
            ),
            Figure("database size", "MB", [ds.database.stat().st_size / 1e6]),
        ],
        setup={"participants": count, "seed": ctx.seed, "data_dir": str(ds.data_dir), "cached": not built},
    )
