"""The evaluation benchmark scenario keeps working, on a tiny national set and a small history."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import BenchContext, Progress  # noqa: E402
from bench.scenarios import evaluation  # noqa: E402


async def test_evaluation_scenario_runs_on_a_tiny_set(tmp_path):
    ctx = BenchContext(participants=5_000, rounds=1, quick=True, work=tmp_path, progress=Progress(min_interval=60))
    scenario = await evaluation.run(ctx, actions_per_month=40, steps=(1, 2), postgres=False)
    figures = {f.name: f for f in scenario.figures}
    assert figures["sqlite: report of one month, 1 month stored"].target == evaluation.MONTH_TARGET_S
    assert all(v > 0 for f in scenario.figures for v in f.values)
    steps = scenario.setup["sqlite"]["steps"]
    assert [s["months"] for s in steps] == [1, 2] and steps[1]["ledger_rows"] > steps[0]["ledger_rows"] > 0
