"""Hub start-up over the national set: time until it serves HTTP, and the peak memory of the process.

The hub runs as ``burgerhub serve`` would run it, in a process of its own: a config whose data folder
is the synthetic set's (``burgerhub.sqlite3`` with every participant), every channel in sandbox mode,
the API on a free port of 127.0.0.1. From the moment the process is spawned, this process polls
``GET /v1/health`` every 50 ms until it answers ``200 {"status": "ok"}`` (the hub has started: store
open, channels started, audience index loaded). The peak resident set (``VmHWM`` in
``/proc/<pid>/status``) is read then; the hub is stopped with SIGTERM.

Two kinds of start:

* **cold**: no index snapshot (it is deleted first): the index is rebuilt by streaming every stored
  record, and the snapshot is written (one run);
* **warm**: the snapshot is current, as after any clean stop: the normal start (``rounds`` runs).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from bench.common import ROOT, BenchContext, Figure, Scenario
from bench.dataset import ensure
from hub import snapshot

NAME = "startup"
TITLE = "Hub start-up with the national set"

START_TARGET_S = 15.0
RSS_TARGET_MB = 1500.0
TIMEOUT_S = 300.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path: Path, data_dir: Path, port: int) -> None:
    path.write_text(
        "[hub]\n"
        f"data_dir = {json.dumps(str(data_dir))}\n"
        f'public_url = "http://127.0.0.1:{port}"\n'
        "[api]\n"
        'host = "127.0.0.1"\n'
        f"port = {port}\n"
    )


def peak_rss_mb(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of a process in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0]) * 1024 / 1e6
    return values.get("VmHWM", 0.0), values.get("VmRSS", 0.0)


async def start_once(config: Path, port: int) -> dict[str, float]:
    """Spawn the hub, wait until it is healthy, measure, stop it. Its stderr goes next to the config."""
    log = config.with_name("hub-stderr.log")
    t0 = time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from hub.cli import main; main()", "--config", str(config), "serve"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    url = f"http://127.0.0.1:{port}/v1/health"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                if proc.poll() is not None:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"hub exited with {proc.returncode}: {tail}")
                if time.perf_counter() - t0 > TIMEOUT_S:
                    raise RuntimeError(f"hub not healthy after {TIMEOUT_S:.0f} s")
                try:
                    async with http.get(url) as r:
                        if r.status == 200 and (await r.json()).get("status") == "ok":
                            break
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.05)
        ready = time.perf_counter() - t0
        hwm, rss = peak_rss_mb(proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {"ready_s": ready, "peak_rss_mb": hwm, "rss_mb": rss}


async def run(ctx: BenchContext) -> Scenario:
    ds = ensure(ctx.participants, ctx.seed, work=ctx.work, progress=ctx.progress)
    scratch = ctx.work / "startup"
    scratch.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = scratch / "burgerhub.toml"
    write_config(config, ds.data_dir, port)
    snap = snapshot.path_for(ds.database)

    snapshot.remove(snap)
    ctx.progress.step("startup: cold start (no snapshot: index rebuilt from the store)")
    cold = await start_once(config, port)
    ctx.progress.step(f"startup: cold start healthy after {cold['ready_s']:.1f} s, peak {cold['peak_rss_mb']:.0f} MB")
    warm = []
    for i in range(ctx.rounds):
        warm.append(await start_once(config, port))
        ctx.progress.step(
            f"startup: warm start {i + 1}/{ctx.rounds} healthy after {warm[-1]['ready_s']:.2f} s, "
            f"peak {warm[-1]['peak_rss_mb']:.0f} MB"
        )
    return Scenario(
        NAME,
        TITLE,
        figures=[
            Figure("warm start to healthy", "s", [w["ready_s"] for w in warm], START_TARGET_S,
                   note="index from its snapshot"),
            Figure("warm start peak RSS", "MB", [w["peak_rss_mb"] for w in warm], RSS_TARGET_MB, note="VmHWM"),
            Figure("cold start to healthy", "s", [cold["ready_s"]], note="no snapshot: rebuilt from the store"),
            Figure("cold start peak RSS", "MB", [cold["peak_rss_mb"]], note="VmHWM"),
        ],
        setup={
            "participants": ctx.participants,
            "database_mb": round(ds.database.stat().st_size / 1e6),
            "snapshot_mb": round(snap.stat().st_size / 1e6) if snap.exists() else None,
            "warm_rounds": ctx.rounds,
            "poll_interval_s": 0.05,
        },
    )
