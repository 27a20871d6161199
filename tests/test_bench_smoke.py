"""The benchmark code keeps working: the audience scenario and the runner on a tiny national set."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import dataset, run  # noqa: E402
from bench.common import BenchContext, Progress  # noqa: E402
from bench.scenarios import audience  # noqa: E402
from hub.participants import Participant  # noqa: E402

TINY = 20_000


def test_dataset_records_are_valid_participants():
    cols = dataset.generate(2_000, seed=7)
    again = dataset.generate(2_000, seed=7)
    assert dataset.records(cols, 0, 50) == dataset.records(again, 0, 50)  # deterministic
    records = dataset.participant_dicts(cols, 0, 300)
    for d in records:
        assert Participant.from_dict(d).to_dict() == d  # validated by the schema, normalised already
    kinds = {len(d["addresses"]) for d in records}
    assert kinds == {1, 2, 3}
    assert any(d["timezone"] != "Europe/Amsterdam" for d in dataset.participant_dicts(cols))


async def test_audience_scenario_runs_on_a_tiny_set(tmp_path):
    ctx = BenchContext(participants=TINY, rounds=1, quick=True, work=tmp_path, progress=Progress(min_interval=60))
    scenario = await audience.run(ctx)
    figures = {f.name: f for f in scenario.figures}
    assert figures["dam_5km in area"].values[0] > 0
    assert figures["dam_15km in area"].values[0] > figures["dam_5km in area"].values[0]
    assert figures["rotterdam_polygon in area"].values[0] > 0
    assert all(v > 0 for v in figures["dam_5km select"].values)
    assert scenario.setup["participants"] == TINY


@pytest.mark.slow
def test_runner_writes_its_json(tmp_path, capsys):
    out = tmp_path / "quick.json"
    code = run.main(
        ["--quick", "--only", "audience", "--participants", str(TINY), "--work", str(tmp_path), "--output", str(out)]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert report["options"]["participants"] == TINY and not report["complete"]
    assert "dam_5km select" in report["scenarios"]["audience"]["figures"]
    assert "dam_5km select" in capsys.readouterr().out
