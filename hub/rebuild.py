"""Rebuilding the audience index from the store on every core, for large stores without a snapshot.

Parsing millions of stored records is CPU-bound Python; one process parses about a quarter of a million
records a second. :func:`rebuild_in_processes` splits the participants table into rowid ranges, has one
worker process per core parse each range into flat columns (:meth:`IndexLoader.export`), and merges
the parts in rowid order (:meth:`IndexLoader.merge`), so the result is the index a single stream
builds. Every worker reads in a read transaction of its own; the parts are only used when all of them
saw the same participants generation, else (someone wrote meanwhile) the caller streams instead.

Workers are plain ``python -m hub.rebuild`` subprocesses that pickle their part to stdout, not
``multiprocessing`` children: those re-import the program that embeds the hub (its ``__main__``),
which an embedding script without a ``__main__`` guard would run again.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from .audience import AudienceIndex, IndexLoader
from .store import ParticipantsVersion
from .store.sqlite_scan import read_participants

log = logging.getLogger("burgerhub.registry")

MIN_PARTICIPANTS = 200_000
"""Below this, starting worker processes costs more than it saves."""


def _load_range(path: str, rowids: tuple[int, int], chunk_size: int) -> tuple[ParticipantsVersion, dict[str, Any]]:
    gc.disable()  # see ParticipantRegistry._rebuild
    loader = IndexLoader(AudienceIndex())
    version = read_participants(path, loader.add_json, chunk_size=chunk_size, rowids=rowids)
    return version, loader.export()


async def _run_worker(path: Path, rowids: tuple[int, int], chunk_size: int) -> tuple[ParticipantsVersion, dict]:
    root = str(Path(__file__).resolve().parents[1])  # so that the package imports without being installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.rebuild", str(path), str(rowids[0]), str(rowids[1]), str(chunk_size),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    try:
        out, err = await proc.communicate()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"worker exited with {proc.returncode}: {err.decode(errors='replace')[-500:]}")
    return pickle.loads(out)


def main(argv: list[str]) -> None:
    """Worker entry point: ``python -m hub.rebuild DATABASE FIRST_ROWID LAST_ROWID CHUNK_SIZE``."""
    path, first, last, chunk = argv
    result = _load_range(path, (int(first), int(last)), int(chunk))
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()


def workers() -> int:
    """Worker processes to use: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


async def rebuild_in_processes(
    store, *, processes: int | None = None, chunk_size: int = 20_000
) -> tuple[AudienceIndex, ParticipantsVersion] | None:
    """The index over every participant, built by ``processes`` workers; ``None`` when it does not apply
    (an in-memory or small store, one core) or did not work (the caller then streams)."""
    processes = processes or workers()
    path = getattr(store, "path", None)
    if processes < 2 or path is None or str(path) == ":memory:":
        return None
    first, last, count = await store.participant_rowids()
    if count < MIN_PARTICIPANTS:
        return None
    step = (last - first + processes) // processes
    ranges = [(lo, min(last, lo + step - 1)) for lo in range(first, last + 1, step)]
    tasks = [asyncio.ensure_future(_run_worker(Path(path), r, chunk_size)) for r in ranges]
    try:
        parts = await asyncio.gather(*tasks)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as e:
        for task in tasks:
            task.cancel()  # stops (kills) the other workers
        await asyncio.gather(*tasks, return_exceptions=True)
        log.warning("audience index: parallel rebuild failed (%s: %s); streaming instead", type(e).__name__, e)
        return None
    versions = {version for version, _ in parts}
    if len(versions) != 1:
        log.info("audience index: participants changed during the parallel rebuild; streaming instead")
        return None
    loader = IndexLoader(AudienceIndex())
    for _, part in parts:
        loader.merge(part)
    del parts
    return loader.finish(), versions.pop()


if __name__ == "__main__":
    main(sys.argv[1:])
