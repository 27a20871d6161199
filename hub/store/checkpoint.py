"""Moves the SQLite write-ahead log back into the database file off the writer's path.

SQLite's automatic checkpoint runs inside the ``COMMIT`` that pushes the log past its threshold,
so the transaction that writes a national fan-out's ledger would also copy (and sync) every page
it wrote before the API could answer. The store turns that off and, after a write leaves the log
larger than :data:`THRESHOLD_BYTES`, runs a passive checkpoint on a thread and connection of its
own: it never blocks the store's writers or readers, and a commit is as durable as before.

After an erasure (or a retention sweep) the store asks for a *truncating* checkpoint instead
(:meth:`Checkpointer.truncate`): every page is copied back into the database file, where
``secure_delete`` has zeroed what was deleted, and the log is cut to zero bytes, so no older copy
of a deleted row is left in either file.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger(__name__)

#: the log size (about SQLite's default of 1,000 pages) after which a checkpoint is started
THRESHOLD_BYTES = 4 * 1024 * 1024


class Checkpointer:
    """Passive checkpoints of one database on a background thread, at most one at a time."""

    def __init__(self, path: Path, threshold_bytes: int = THRESHOLD_BYTES) -> None:
        self.path = path
        self.threshold = threshold_bytes
        self._wal = path.with_name(path.name + "-wal")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="burgerhub-sqlite-checkpoint")
        self._conn: sqlite3.Connection | None = None
        self._running = threading.Event()
        self._closed = False

    def poke(self) -> None:
        """Start a checkpoint if the log has grown past the threshold and none is running."""
        if self._closed or self._running.is_set():
            return
        try:
            size = self._wal.stat().st_size
        except OSError:
            return
        if size >= self.threshold:
            self._running.set()
            self._pool.submit(self._run)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=5000")
        return self._conn

    async def truncate(self, within: float = 10.0) -> bool:
        """Copy the whole log into the database file and cut the log to zero bytes; retried while
        readers hold older pages, for up to ``within`` seconds. Whether it completed."""
        if self._closed:
            return False
        return await asyncio.wrap_future(self._pool.submit(self._truncate, within))

    def _truncate(self, within: float) -> bool:
        deadline = time.monotonic() + within
        while True:
            try:
                busy, _, _ = self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    return True
            except sqlite3.Error as e:
                log.warning("truncating checkpoint of %s failed: %s", self.path, e)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def _run(self) -> None:
        try:
            self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as e:  # the next write tries again; SQLite keeps the log consistent
            log.warning("checkpoint of %s failed: %s", self.path, e)
        finally:
            self._running.clear()

    def close(self) -> None:
        """Wait for a running checkpoint and close the connection (blocking: call it on a thread)."""
        self._closed = True
        self._pool.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
