"""What every benchmark scenario shares: figures, progress and the machine they ran on.

A scenario is a module in ``bench/scenarios/`` with::

    NAME = "fanout"                       # short, used on the command line and as the JSON key
    TITLE = "Fan-out of 100,000 SMS"      # a line for the table

    async def run(ctx: BenchContext) -> Scenario: ...

``bench/run.py`` runs the scenarios one after another, prints the table and writes the JSON.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: where datasets and scratch hubs live between runs (git-ignored)
WORK = ROOT / "var" / "bench"
RESULTS = ROOT / "bench" / "results"


@dataclass
class Figure:
    """One measured quantity over repeated runs, with its target when there is one."""

    name: str
    unit: str
    values: list[float]
    target: float | None = None
    #: "lower" (latency, memory) or "higher" (rates, ratios) is better
    better: Literal["lower", "higher"] = "lower"
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def meets_target(self) -> bool | None:
        if self.target is None or not self.values:
            return None
        return self.median <= self.target if self.better == "lower" else self.median >= self.target

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "min": min(self.values) if self.values else None,
            "median": self.median if self.values else None,
            "max": max(self.values) if self.values else None,
            "runs": len(self.values),
            "values": self.values,
            "target": self.target,
            "better": self.better,
            "meets_target": self.meets_target,
            "note": self.note,
        }


@dataclass
class Scenario:
    """A scenario's figures plus whatever describes its set-up (sizes, areas, rounds)."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    setup: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "setup": self.setup,
            "figures": {f.name: f.to_dict() for f in self.figures},
        }


class Progress:
    """Progress lines on stderr for long steps; cheap enough to call in loops."""

    def __init__(self, stream=sys.stderr, *, min_interval: float = 1.0):
        self.stream, self.min_interval = stream, min_interval
        self._last = 0.0
        self._t0 = time.perf_counter()

    def step(self, message: str) -> None:
        elapsed = time.perf_counter() - self._t0
        print(f"[{elapsed:7.1f}s] {message}", file=self.stream, flush=True)

    def count(self, what: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if done >= total or now - self._last >= self.min_interval:
            self._last = now
            self.step(f"{what}: {done:,}/{total:,} ({100 * done / max(total, 1):.0f} %)")


@dataclass
class BenchContext:
    """Options every scenario gets from ``bench/run.py``."""

    participants: int = 3_000_000
    rounds: int = 5
    seed: int = 20261123
    quick: bool = False
    work: Path = WORK
    progress: Progress = field(default_factory=Progress)


def machine() -> dict[str, Any]:
    """The machine a run came from, for the JSON."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    return info
