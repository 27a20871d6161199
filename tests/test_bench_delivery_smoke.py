"""The delivery scenarios keep working: fan-out and per-recipient benchmarks in quick mode."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import BenchContext, Progress  # noqa: E402
from bench.scenarios import fanout, per_recipient  # noqa: E402


def context(tmp_path: Path) -> BenchContext:
    return BenchContext(rounds=1, quick=True, work=tmp_path, progress=Progress(min_interval=60))


async def test_fanout_reaches_every_participant_and_the_ledger_says_so(tmp_path):
    scenario = await fanout.run(context(tmp_path))
    figures = {f.name: f for f in scenario.figures}
    recipients = scenario.setup["recipients"]
    assert figures["ledger_sent"].values == [2.0 * recipients]
    for name in ("start_first_message", "start_last_message", "end_first_message", "end_last_message"):
        assert len(figures[name].values) == 1 and figures[name].values[0] < 60_000
    assert figures["start_first_message"].values[0] / 1000 <= figures["start_last_message"].values[0]
    assert scenario.setup["batch_size"] == 1000  # the CM adapter's own batch size reached the engine


async def test_per_recipient_compares_hub_raw_and_apprise(tmp_path):
    scenario = await per_recipient.run(context(tmp_path))
    figures = {f.name: f for f in scenario.figures}
    for name in ("hub_rate", "raw_rate", "apprise_rate"):
        assert len(figures[name].values) == 1 and figures[name].values[0] > 0
    assert figures["hub_vs_raw"].values[0] == figures["hub_rate"].values[0] / figures["raw_rate"].values[0]
    assert scenario.setup["hub"]["settings"]["batch_size"] == 1


async def test_privacy_compares_secure_delete_modes(tmp_path):
    from bench.scenarios import privacy

    scenario = await privacy.run(context(tmp_path), rows=2_000)
    figures = {f.name: f for f in scenario.figures}
    for mode in privacy.MODES:
        for name in ("fan-out write", "claim+complete", "erase", "retention"):
            assert len(figures[f"{name} {mode}"].values) == 1 and figures[f"{name} {mode}"].values[0] > 0
    assert figures["retention ON/OFF"].unit == "ratio"
