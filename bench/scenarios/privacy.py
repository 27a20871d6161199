"""What privacy on disk costs the ledger: ``secure_delete`` and truncating checkpoints, side by side.

The embedded store runs with ``PRAGMA secure_delete=ON`` (deleted content and freed pages are
overwritten with zeros) and empties its write-ahead log into the database file after an erasure or a
retention sweep (``wal_checkpoint(TRUNCATE)``). On a fresh store per run, with ``secure_delete`` OFF,
FAST and ON alternating:

* ``fan-out write``: one action's ledger rows (``create_action``, one transaction);
* ``claim+complete``: every row claimed and completed as "sent" in the engine's chunks (statuses of
  another length are rewritten cells: what ``secure_delete`` zeroes);
* ``erase``: one participant erased on the full ledger, with its truncating checkpoint (``ON``) or
  without one (``OFF``, the old behaviour);
* ``retention``: the whole action's rows removed by the retention sweep, its checkpoint included.

Figures are seconds (milliseconds for the erasure) per mode; the ratio figures compare ON with OFF.

Standalone::

    python -m bench.scenarios.privacy [--rows 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import BenchContext, Figure, Progress, Scenario  # noqa: E402

NAME = "privacy"
TITLE = "Privacy on disk: secure_delete and truncating checkpoints on the ledger"

MODES = ("OFF", "FAST", "ON")
CLAIM = 2_000


async def _one(work: Path, rows: int, mode: str) -> dict[str, float]:
    from hub.store import AuditEntry, DeliveryColumns
    from hub.store.sqlite import SQLiteStore

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    store = SQLiteStore(work / "ledger.sqlite3")
    store.secure_delete = mode
    await store.open()
    try:
        ids = [f"p{i:07d}" for i in range(rows)]
        await store.put_participants([(pid, {"id": pid}) for pid in ids])
        columns = DeliveryColumns("sms", [f"+316{10_000_000 + i:08d}" for i in range(rows)], ids, ["nl"] * rows)
        action = {"id": "act-bench-privacy", "status": "active", "urgency": "time_critical", "version": 1}
        audit = AuditEntry("bench", "dispatcher", "action.start", "act-bench-privacy")
        out: dict[str, float] = {}

        t0 = time.perf_counter()
        await store.create_action(action, [columns], audit)
        out["fan-out write"] = time.perf_counter() - t0

        from hub.store import Outcome

        t0 = time.perf_counter()
        while claimed := await store.claim("sms", CLAIM, owner="bench", lease_seconds=600):
            await store.complete([Outcome(r.id, "sent", None, f"SM{r.id}") for r in claimed])
        out["claim+complete"] = time.perf_counter() - t0

        erase = AuditEntry("bench", "operator", "participant.erase", "participant")
        if mode == "OFF":  # the old behaviour: no truncating checkpoint after the erasure
            store.scrub = _no_scrub
        t0 = time.perf_counter()
        await store.erase_participant(ids[rows // 2], erase)
        out["erase"] = (time.perf_counter() - t0) * 1000

        await store.end_action({**action, "status": "ended", "version": 2}, audit)
        t0 = time.perf_counter()
        await store.expire(time.time() + 1, AuditEntry("bench", "system", "retention.sweep", "retention"))
        out["retention"] = time.perf_counter() - t0
        return out
    finally:
        await store.close()
        shutil.rmtree(work, ignore_errors=True)


async def _no_scrub() -> bool:
    return True


async def run(ctx: BenchContext, *, rows: int | None = None) -> Scenario:
    rows = rows or (50_000 if ctx.quick else 300_000)
    rounds = 1 if ctx.quick else min(max(1, ctx.rounds), 3)
    values: dict[tuple[str, str], list[float]] = {}
    for r in range(rounds):
        for mode in MODES if r % 2 == 0 else tuple(reversed(MODES)):
            ctx.progress.step(f"privacy: {rows:,} ledger rows, secure_delete={mode} (round {r + 1}/{rounds})")
            for figure, value in (await _one(ctx.work / "privacy", rows, mode)).items():
                values.setdefault((figure, mode), []).append(value)
    figures = []
    for (figure, mode), vals in values.items():
        unit = "ms" if figure == "erase" else "s"
        note = "without the truncating checkpoint" if (figure, mode) == ("erase", "OFF") else ""
        figures.append(Figure(f"{figure} {mode}", unit, vals, note=note))
    for figure in ("fan-out write", "claim+complete", "retention"):
        on, off = values[(figure, "ON")], values[(figure, "OFF")]
        figures.append(Figure(f"{figure} ON/OFF", "ratio", [a / b for a, b in zip(on, off)]))
    return Scenario(NAME, TITLE, figures, setup={"rows": rows, "rounds": rounds, "claim": CLAIM})


def main() -> None:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from bench.common import WORK

    ctx = BenchContext(rounds=args.rounds, work=WORK, progress=Progress())
    scenario = asyncio.run(run(ctx, rows=args.rows))
    for f in scenario.figures:
        print(f"{f.name:28} {f.median:10.3f} {f.unit}  {f.note}")


if __name__ == "__main__":
    main()
