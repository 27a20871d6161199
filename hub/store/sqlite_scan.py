"""Reading every participant of an embedded store from one consistent snapshot, off the store's thread:
:class:`ParticipantScan` for the hub, :func:`read_participants` for the worker processes that rebuild the
audience index.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import ParticipantsVersion

if TYPE_CHECKING:
    from .sqlite import SQLiteStore


def _version(conn: sqlite3.Connection) -> ParticipantsVersion:
    database_id = conn.execute("SELECT value FROM store_meta WHERE key='database_id'").fetchone()[0]
    generation = conn.execute("SELECT value FROM store_meta WHERE key='participants_generation'").fetchone()[0]
    return ParticipantsVersion(str(database_id), int(generation))


class ParticipantScan:
    """Every participant's stored JSON text in chunks, all from one read transaction.

    ``async with store.scan_participants() as scan:`` then ``scan.version`` is the generation the rows
    belong to and ``async for texts in scan`` yields lists of JSON texts (rowid order). A file database
    is read on a connection and thread of its own, so the store stays free and the next chunk is read
    while the caller works on the current one; an in-memory one pages through the store's connection.
    """

    def __init__(self, store: SQLiteStore, chunk_size: int):
        self.store = store
        self.chunk_size = max(1, int(chunk_size))
        self.version: ParticipantsVersion | None = None
        self._conn: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._cursor: sqlite3.Cursor | None = None

    async def __aenter__(self) -> ParticipantScan:
        if str(self.store.path) == ":memory:":
            self.version = await self.store.participants_version()
            return self
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="burgerhub-scan")

        def begin() -> ParticipantsVersion:
            conn = sqlite3.connect(
                f"{self.store.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                check_same_thread=False,
            )
            self._conn = conn
            conn.execute("BEGIN")  # the first read fixes the snapshot every later read sees
            version = _version(conn)
            self._cursor = conn.execute("SELECT data FROM participants ORDER BY rowid")
            return version

        self.version = await asyncio.get_running_loop().run_in_executor(self._thread, begin)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._thread is not None:
            conn, self._conn = self._conn, None

            def end() -> None:
                if conn is not None:
                    if conn.in_transaction:
                        conn.execute("COMMIT")
                    conn.close()

            await asyncio.get_running_loop().run_in_executor(self._thread, end)
            self._thread.shutdown(wait=True)
            self._thread = None

    async def __aiter__(self):
        loop = asyncio.get_running_loop()
        if self._thread is None:
            last = 0
            while True:

                def page(conn, after=last):
                    return conn.execute(
                        "SELECT rowid, data FROM participants WHERE rowid>? ORDER BY rowid LIMIT ?",
                        (after, self.chunk_size),
                    ).fetchall()

                rows = await self.store._read(page)
                if not rows:
                    return
                last = rows[-1][0]
                yield [r[1] for r in rows]
            return
        cursor = self._cursor
        assert cursor is not None

        def fetch() -> list[str]:
            return [r[0] for r in cursor.fetchmany(self.chunk_size)]

        pending = loop.run_in_executor(self._thread, fetch)
        while True:
            texts = await pending
            if not texts:
                return
            pending = loop.run_in_executor(self._thread, fetch)  # read ahead while the caller parses
            yield texts


def read_participants(
    path: str | Path,
    consume: Callable[[list[str]], None],
    *,
    chunk_size: int = 20_000,
    rowids: tuple[int, int] | None = None,
) -> ParticipantsVersion:
    """Hand the stored JSON texts of participants (``rowids``: first and last rowid, inclusive) to
    ``consume`` in chunks, all from one read transaction; returns the version they belong to.

    Blocking and on a connection of its own: for worker processes that rebuild the audience index.
    """
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("BEGIN")
        version = _version(conn)
        if rowids is None:
            cursor = conn.execute("SELECT data FROM participants ORDER BY rowid")
        else:
            cursor = conn.execute(
                "SELECT data FROM participants WHERE rowid BETWEEN ? AND ? ORDER BY rowid", rowids
            )
        while rows := cursor.fetchmany(chunk_size):
            consume([r[0] for r in rows])
        conn.execute("COMMIT")
        return version
    finally:
        conn.close()
