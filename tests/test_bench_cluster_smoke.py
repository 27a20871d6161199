"""The cluster benchmark keeps working: SQLite and PostgreSQL with 1-3 hub processes, and a kill, in quick mode."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import BenchContext, Progress  # noqa: E402
from bench.scenarios import cluster  # noqa: E402


@pytest.mark.slow
async def test_cluster_scenario_runs_every_case_and_loses_nothing(tmp_path):
    try:
        from hub.store.pgserver import find_bindir

        find_bindir()
    except Exception as e:  # PostgresNotFound
        pytest.skip(f"PostgreSQL is not installed: {e}")
    ctx = BenchContext(rounds=1, quick=True, work=tmp_path, progress=Progress(min_interval=60))
    scenario = await cluster.run(ctx)
    figures = {f.name: f for f in scenario.figures}
    recipients = scenario.setup["recipients"]
    assert recipients < 10_000  # quick mode stays small
    assert scenario.setup["cases"] == list(cluster.CASES)
    for case in cluster.CASES:
        for name in ("last start", "last closing", "start rate", "CPU per 1,000", "hub CPU per 1,000"):
            values = figures[f"{case} {name}"].values
            assert len(values) == 1 and values[0] > 0, (case, name, values)
        assert figures[f"{case} hub CPU per 1,000"].values[0] <= figures[f"{case} CPU per 1,000"].values[0]
    # the bars are computed (quick mode is too small to judge them: they are not asserted here)
    for name in ("postgres_1 vs sqlite_1 start rate", "postgres_3 vs postgres_1 CPU per 1,000",
                 "postgres_3_kill vs postgres_3 last closing"):
        assert figures[name].target is not None and figures[name].values[0] > 0
    # a process killed half-way through the closing loses nothing
    assert figures["postgres_3_kill lost closings"].values == [0.0]
    assert scenario.setup["killed_in_flight"][0] >= 0
    assert not (tmp_path / "cluster").exists()  # scratch removed; the participant cache stays
