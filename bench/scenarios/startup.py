"""Hub start-up over the national set: time until it serves HTTP, and the peak memory of the process.

The hub runs as ``burgerhub serve`` would run it, in a process of its own: a config whose data folder
is the synthetic set's (``burgerhub.sqlite3`` with every participant), every channel in sandbox mode,
the API on a free port of 127.0.0.1. From the moment the process is spawned, this process polls
``GET /v1/health`` every 50 ms until it answers ``200 {"status": "ok"}`` (the hub has started: store
open, channels started, audience index loaded). The peak resident set (``VmHWM`` in
``/proc/<pid>/status``) is read then; the hub is stopped with SIGTERM.

Three kinds of start:

* **cold**: no index snapshot (it is deleted first): the index is rebuilt from every stored record,
  and the snapshot is written (one run);
* **warm**: the snapshot is current, as after any clean stop: the normal start (``rounds`` runs);
* **after a crash**: the snapshot is current, then :data:`CRASH_CHANGES` participant changes are
  written to the store without the snapshot being saved, as a hub that crashed within a minute of
  them leaves things (the store's triggers record them whoever writes). 80 % move a participant's
  first address by about a kilometre, 10 % erase a participant, 10 % register a new one. The start
  loads the snapshot and replays the changes since. After the run the changes are undone (the cached
  set stays as built), which leaves the snapshot behind by twice as many changes for its next user.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
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
CRASH_CHANGES = 1_000


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
            [sys.executable, "-c", "from hub.cli import main; main()", "--config", str(config), "--verbose", "serve"],
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


def write_crash_changes(database: Path, n: int, round_no: int) -> list[tuple]:
    """Write ``n`` participant changes straight to the store (see the module docstring), to rows no
    other round touches; returns what :func:`undo_crash_changes` needs to put them back."""
    conn = sqlite3.connect(database, timeout=30)
    try:
        last = conn.execute("SELECT max(rowid) FROM participants").fetchone()[0] or 0
        step = max(1, last // n)
        rows = conn.execute(
            "SELECT rowid, id, data, created_at, updated_at FROM participants WHERE rowid % ? = ? LIMIT ?",
            (step, round_no % step, n),
        ).fetchall()
        n_erase = n_new = len(rows) // 10
        moved, erased, copied = rows[: len(rows) - n_erase - n_new], rows[-n_erase - n_new : -n_new], rows[-n_new:]
        now = time.time()
        with conn:
            for _, pid, data, _, _ in moved:
                record = json.loads(data)
                record["addresses"][0]["lat"] = round(record["addresses"][0]["lat"] + 0.009, 6)
                conn.execute("UPDATE participants SET data=?, updated_at=? WHERE id=?", (json.dumps(record), now, pid))
            conn.executemany("DELETE FROM participants WHERE id=?", [(r[1],) for r in erased])
            new = []
            for i, (_, pid, data, _, _) in enumerate(copied):
                record = json.loads(data) | {"id": f"crash-{round_no}-{i}"}
                new.append((record["id"], json.dumps(record), now, now))
            conn.executemany(
                "INSERT OR REPLACE INTO participants (id, data, created_at, updated_at) VALUES (?,?,?,?)", new
            )
        return [("moved", r) for r in moved] + [("erased", r) for r in erased] + [("new", (r[0],)) for r in new]
    finally:
        conn.close()


def undo_crash_changes(database: Path, undo: list[tuple]) -> None:
    """Put back what :func:`write_crash_changes` changed (the erased come back under new rowids)."""
    conn = sqlite3.connect(database, timeout=30)
    try:
        with conn:
            for kind, row in undo:
                if kind == "moved":
                    conn.execute("UPDATE participants SET data=?, updated_at=? WHERE id=?", (row[2], row[4], row[1]))
                elif kind == "erased":
                    conn.execute(
                        "INSERT INTO participants (id, data, created_at, updated_at) VALUES (?,?,?,?)", row[1:]
                    )
                else:
                    conn.execute("DELETE FROM participants WHERE id=?", row)
    finally:
        conn.close()


def load_line(config: Path) -> str:
    """The hub's log line on how it loaded its audience index (from its stderr)."""
    lines = [ln for ln in config.with_name("hub-stderr.log").read_text(errors="replace").splitlines()
             if "audience index:" in ln and " participants from the " in ln]
    return lines[-1].split("audience index: ", 1)[-1] if lines else ""


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
    # each start after a crash finds the snapshot current (the previous one saved it when stopped)
    # and CRASH_CHANGES changes since; every round changes rows of its own, all undone at the end
    crash, loads, undo = [], [], []
    try:
        for i in range(ctx.rounds):
            undo += await asyncio.to_thread(write_crash_changes, ds.database, CRASH_CHANGES, i)
            crash.append(await start_once(config, port))
            loads.append(load_line(config))
            ctx.progress.step(
                f"startup: start after a crash {i + 1}/{ctx.rounds} healthy after {crash[-1]['ready_s']:.2f} s, "
                f"peak {crash[-1]['peak_rss_mb']:.0f} MB ({loads[-1]})"
            )
    finally:
        await asyncio.to_thread(undo_crash_changes, ds.database, undo)
    return Scenario(
        NAME,
        TITLE,
        figures=[
            Figure("start after a crash to healthy", "s", [c["ready_s"] for c in crash], START_TARGET_S,
                   note=f"snapshot plus {CRASH_CHANGES} changes replayed"),
            Figure("start after a crash peak RSS", "MB", [c["peak_rss_mb"] for c in crash], RSS_TARGET_MB,
                   note="VmHWM"),
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
            "crash_changes": CRASH_CHANGES,
            "crash_loads": loads,
            "poll_interval_s": 0.05,
        },
    )
