"""The evaluation report over a synthetic history: its time for 1, 3 and 12 months of actions.

The history (:mod:`bench.history`) runs over the national participant set at 4,000 actions a month,
each reaching at most :data:`MAX_REACH` participants of a national set of 3 million (a random subset of
those with an address in its area: dispatchers draw smaller areas where many live), scaled with the
set's size, so a participant is reached about as often at any size: some 4.3 million start messages a
month at full size (8.4 million ledger rows with the closing messages), against Burgernet's 22.5 million
SMS a year. It is written month by month into a copy of the
set's database, as the hub would have written it, with each action's figures kept once settled. After
1, 3 and 12 months (as many as build within :data:`BUILD_BUDGET_S`, extrapolated from the months so far), the report of the first
month and the report of every month so far are drawn (``hub.evaluation.build``: every figure, every
table), ``rounds`` times each. The target: one month's report in at most 2 s, and the time for the whole
history growing no faster than its rows. On PostgreSQL, when installed, the same with the same set
(3 million participants copy in about 2 minutes).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import date, datetime, timedelta

from bench import history
from bench.common import BenchContext, Figure, Scenario
from bench.dataset import ensure, generate

NAME = "evaluation"
TITLE = "Evaluation report over a synthetic history"

ACTIONS_PER_MONTH = 4_000
MAX_REACH = 1_000
NATIONAL = 3_000_000
MONTH_TARGET_S = 2.0
BUILD_BUDGET_S = 600.0
STEPS = (1, 3, 12)
FIRST = datetime(2026, 1, 1, tzinfo=history.TZ)


def _last_day(months: int) -> date:
    d = FIRST.date()
    for _ in range(months):
        d = (d.replace(day=1) + timedelta(days=32)).replace(day=1)
    return d - timedelta(days=1)


def max_reach(cols) -> int:
    """:data:`MAX_REACH` scaled to the participant set's size (at least 10)."""
    return max(10, round(MAX_REACH * len(cols) / NATIONAL))


async def _time_reports(store, months: int, rounds: int) -> dict[str, list[float]]:
    from hub.evaluation import ParticipantCells, Selection, build, where

    where.municipalities()  # the municipality grid, built once per process (about 0.5 s)
    # as the command line draws it: participants per municipality from the count the store keeps
    # (the participants do not change here); the fresh count is timed on its own
    out: dict[str, list] = {"month": [], "all": [], "month_steps": [], "all_steps": [], "count": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        await store.participant_cells(where.STEP)
        out["count"].append(time.perf_counter() - t0)
        for key, last in (("month", _last_day(1)), ("all", _last_day(months))):
            t0 = time.perf_counter()
            report = await build(store, Selection(FIRST.date(), last), cells=ParticipantCells(max_age=3600.0))
            out[key].append(time.perf_counter() - t0)
            out[f"{key}_steps"].append({k: round(v, 3) for k, v in report.timings.items()})
    return out


async def _backend(ctx: BenchContext, label: str, store, write, cols, *, actions_per_month: int,
                   steps: tuple[int, ...]) -> tuple[list[Figure], dict]:
    figures, setup = [], {"steps": []}
    written = 0
    rows = 0
    building = 0.0
    for months in steps:
        # go on only while the history so far, extrapolated, builds within the budget
        if written and building / written * months > BUILD_BUDGET_S:
            ctx.progress.step(f"evaluation[{label}]: {months} months would not build within "
                              f"{BUILD_BUDGET_S:.0f} s ({building / written:.0f} s a month): stopping at {written}")
            break
        items = history.generate(cols, first_month=(FIRST + timedelta(days=31 * written)).replace(day=1),
                                 months=months - written, actions_per_month=actions_per_month,
                                 seed=ctx.seed % 1000 + written, max_reach=max_reach(cols))
        t0 = time.perf_counter()
        h = await write(items)
        building += time.perf_counter() - t0
        written = months
        rows += h.deliveries
        ctx.progress.step(f"evaluation[{label}]: {months} months written ({rows:,} ledger rows, "
                          f"{h.seconds:.0f} s for the last {h.actions:,} actions)")
        times = await _time_reports(store, months, ctx.rounds)
        setup["steps"].append({"months": months, "actions": months * actions_per_month, "ledger_rows": rows,
                               "month_s": times["month"], "all_s": times["all"],
                               "month_steps_s": times["month_steps"], "all_steps_s": times["all_steps"]})
        stored = f"{months} month{'s' if months > 1 else ''}"
        figures.append(Figure(f"{label}: report of one month, {stored} stored", "s", times["month"],
                              MONTH_TARGET_S if months == 1 else None,
                              note=f"{actions_per_month:,} actions; {rows:,} ledger rows stored"))
        figures.append(Figure(f"{label}: report of all {stored}", "s", times["all"],
                              note=f"{months * actions_per_month:,} actions, {rows:,} ledger rows"))
        if months == steps[0]:
            figures.append(Figure(f"{label}: participants per municipality counted afresh", "s", times["count"],
                                  note=f"{len(cols):,} participant records read"))
    return figures, setup


async def run(ctx: BenchContext, *, actions_per_month: int = ACTIONS_PER_MONTH, steps: tuple[int, ...] = STEPS,
              postgres: bool = True) -> Scenario:
    from hub.store.sqlite import SQLiteStore

    ds = ensure(ctx.participants, ctx.seed, work=ctx.work, progress=ctx.progress)
    cols = generate(ctx.participants, ctx.seed)
    scratch = ctx.work / "evaluation"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    db = scratch / "burgerhub.sqlite3"
    ctx.progress.step("evaluation: copying the participant set")
    shutil.copyfile(ds.database, db)
    store = SQLiteStore(db)
    await store.open()
    try:
        figures, setup = await _backend(
            ctx, "sqlite", store,
            lambda items: asyncio.to_thread(history.write_sqlite, db, items, progress=lambda n: ctx.progress.step(
                f"evaluation[sqlite]: {n:,} actions written")), cols,
            actions_per_month=actions_per_month, steps=steps)
    finally:
        await store.close()
    setup = {"participants": ctx.participants, "actions_per_month": actions_per_month, "max_reach": max_reach(cols),
             "sqlite": setup}
    pg = await _postgres(ctx, cols, actions_per_month, steps) if postgres else None
    if pg is not None:
        figures += pg[0]
        setup["postgresql"] = pg[1]
    shutil.rmtree(scratch, ignore_errors=True)
    return Scenario(NAME, TITLE, figures=figures, setup=setup)


async def _postgres(ctx: BenchContext, cols, actions_per_month: int,
                    steps: tuple[int, ...]) -> tuple[list[Figure], dict] | None:
    """The same on PostgreSQL with the same participant set ``cols``."""
    from hub.store.pgserver import PostgresNotFound, PrivatePostgres
    from hub.store.postgres import PostgresStore

    try:
        server = PrivatePostgres().start()
    except PostgresNotFound as e:
        ctx.progress.step(f"evaluation: PostgreSQL not installed ({e}): skipped")
        return None
    try:
        dsn = server.create_database("evaluation")
        store = PostgresStore(dsn)
        await store.open()
        try:
            n = await history.copy_participants(dsn, cols)
            ctx.progress.step(f"evaluation[postgresql]: {n:,} participants copied")
            figures, setup = await _backend(ctx, "postgresql", store,
                                            lambda items: history.write_postgres(dsn, items), cols,
                                            actions_per_month=actions_per_month, steps=steps)
            setup["participants"] = n
            return figures, setup
        finally:
            await store.close()
    finally:
        server.stop()
