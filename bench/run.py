"""Run the national-scale benchmark: every scenario in ``bench/scenarios/``, a table, and a JSON file.

    python bench/run.py [--quick] [--only NAME ...] [--rounds N] [--participants N]

Scenarios run in this order (those not installed are skipped with a message): dataset, audience,
startup, fanout, per_recipient. The full run writes ``bench/results/latest.json``; ``--quick`` (100,000
participants, one round) writes ``bench/results/quick.json`` instead. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, ROOT, WORK, BenchContext, Figure, Progress, Scenario, machine  # noqa: E402

ORDER = ("dataset", "audience", "startup", "fanout", "per_recipient", "pg_driver", "cluster", "privacy", "evaluation")
QUICK_PARTICIPANTS = 100_000


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def load_scenarios(names: Sequence[str], progress: Progress) -> list[Any]:
    """The scenario modules to run, in :data:`ORDER`; missing ones are reported and skipped."""
    modules = []
    for name in names:
        try:
            module = importlib.import_module(f"bench.scenarios.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"bench.scenarios.{name}":
                raise
            progress.step(f"scenario {name!r} is not installed (bench/scenarios/{name}.py): skipped")
            continue
        modules.append(module)
    return modules


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(results: dict[str, Scenario | None]) -> str:
    """The readable summary: one line per figure."""
    head = ("scenario", "figure", "min", "median", "max", "unit", "target", "met?")
    rows: list[tuple[str, ...]] = []
    for name, scenario in results.items():
        if scenario is None:
            rows.append((name, "FAILED (see the JSON)", "", "", "", "", "", ""))
            continue
        for f in scenario.figures:
            d = f.to_dict()
            target = "-" if f.target is None else ("<= " if f.better == "lower" else ">= ") + _fmt(f.target)
            met = {True: "yes", False: "NO", None: ""}[f.meets_target]
            rows.append((name, f.name, _fmt(d["min"]), _fmt(d["median"]), _fmt(d["max"]), f.unit, target, met))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    numeric = {2, 3, 4}

    def line(r: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="burgerhub national-scale benchmark")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PARTICIPANTS:,} participants, one round")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=ORDER, help="run only these scenarios")
    parser.add_argument("--rounds", type=int, help="repetitions per measurement (default 5; 1 with --quick)")
    parser.add_argument("--participants", type=int, help="size of the national set (default 3,000,000)")
    parser.add_argument("--seed", type=int, default=BenchContext.seed)
    parser.add_argument("--work", type=Path, default=WORK, help="datasets and scratch (default var/bench)")
    parser.add_argument("--output", type=Path, help="JSON file (default bench/results/latest.json or quick.json)")
    args = parser.parse_args(argv)

    progress = Progress()
    ctx = BenchContext(
        participants=args.participants or (QUICK_PARTICIPANTS if args.quick else BenchContext.participants),
        rounds=args.rounds or (1 if args.quick else BenchContext.rounds),
        seed=args.seed,
        quick=args.quick,
        work=args.work,
        progress=progress,
    )
    ctx.work.mkdir(parents=True, exist_ok=True)
    names = [n for n in ORDER if not args.only or n in args.only]
    modules = load_scenarios(names, progress)
    output = args.output or RESULTS / ("quick.json" if args.quick else "latest.json")

    started = time.perf_counter()
    results: dict[str, Scenario | None] = {}
    errors: dict[str, str] = {}
    durations: dict[str, float] = {}
    for module in modules:
        progress.step(f"== {module.NAME}: {module.TITLE}")
        t0 = time.perf_counter()
        try:
            results[module.NAME] = asyncio.run(module.run(ctx))
        except Exception as e:  # one broken scenario must not lose the others' figures
            traceback.print_exc()
            results[module.NAME] = None
            errors[module.NAME] = f"{type(e).__name__}: {e}"
        durations[module.NAME] = round(time.perf_counter() - t0, 1)
        progress.step(f"== {module.NAME} done in {durations[module.NAME]:.1f} s")

    print()
    print(table(results))
    total = time.perf_counter() - started
    print(f"\n{len(results)} scenarios in {total:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in durations.items())})")
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": git_commit(),
        "machine": machine(),
        "options": {
            "quick": ctx.quick,
            "participants": ctx.participants,
            "rounds": ctx.rounds,
            "seed": ctx.seed,
            "only": args.only,
        },
        "complete": not errors and len(modules) == len(ORDER) and not args.only,
        "seconds": round(total, 1),
        "durations_s": durations,
        "scenarios": {
            name: (s.to_dict() if s is not None else {"error": errors[name]}) for name, s in results.items()
        },
        "skipped": [n for n in names if n not in results],
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
    tmp.replace(output)
    print(f"results: {output}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
