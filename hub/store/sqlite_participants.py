"""Participants in the embedded store: writes that move the participants generation, the changes
since a generation, tombstones, the streaming scan, and erasure.

The generation, each row's generation and the tombstones are kept by triggers (see the first
migration), so any writer of the database keeps them right; these methods only read them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from typing import Any, Mapping, Sequence

from . import AuditEntry, GenerationStep, ParticipantChanges, ParticipantsVersion
from .sqlite_scan import ParticipantScan, _version
from .verification import erasure_statements

log = logging.getLogger("burgerhub.store")


class SQLiteParticipants:
    """The participant operations of :class:`~hub.store.sqlite.SQLiteStore` (a mixin: it uses the
    store's ``_read``, ``_tx``, ``_audit`` and ``path``)."""

    async def put_participants(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> GenerationStep:
        """Insert or replace participants; the generation moves on by one per item."""

        def fn(conn):
            before = _generation(conn)
            now = time.time()
            conn.executemany(
                "INSERT INTO participants (id, data, created_at, updated_at) VALUES (?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET data=excluded.data, updated_at=excluded.updated_at",
                [(pid, json.dumps(data), now, now) for pid, data in items],
            )
            return GenerationStep(before, _generation(conn))

        return await self._tx(fn)

    async def participants_version(self) -> ParticipantsVersion:
        """The database's id and the participants generation now."""
        return await self._read(_version)

    async def participant_changes(self, since: int, *, limit: int | None = None) -> ParticipantChanges:
        """What changed after generation ``since``, all from one read: the stored JSON of every
        participant written since (generation order) and the ids removed since, with the version they
        lead to. ``texts``/``removed`` are ``None`` when the changes since cannot be told (``since`` is
        before :attr:`ParticipantChanges.complete_since` or after the current generation; ``count`` is
        ``None`` then) or number more than ``limit`` (``count`` is then more than ``limit``, not exact).
        One scan of the participants table (no index on generation)."""

        if str(self.path) == ":memory:":
            return await self._read(lambda conn: _participant_changes(conn, since, limit))

        def read() -> ParticipantChanges:
            # a connection of its own with the default small page cache: the scan neither holds the
            # store's thread nor fills the store's large cache with participants' pages
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
            try:
                return _participant_changes(conn, since, limit)
            finally:
                conn.close()

        return await asyncio.to_thread(read)

    async def prune_participant_tombstones(self, upto: int) -> int:
        """Drop the tombstones of generation ``upto`` and before (a copy at ``upto`` or later exists);
        from then on changes can be replayed only from ``upto``. Returns how many were dropped."""

        def fn(conn):
            current = int(_meta(conn, "participant_changes_since"))
            if upto <= current:
                return 0
            cur = conn.execute("DELETE FROM participant_tombstones WHERE generation <= ?", (upto,))
            conn.execute("UPDATE store_meta SET value=? WHERE key='participant_changes_since'", (upto,))
            return cur.rowcount

        return await self._tx(fn)

    async def participant_rowids(self) -> tuple[int, int, int]:
        """(first rowid, last rowid, count) of the participants table, for splitting a full read."""

        def fn(conn):
            first, last = conn.execute("SELECT min(rowid), max(rowid) FROM participants").fetchone()
            count = conn.execute("SELECT count(*) FROM participants").fetchone()[0]
            return (first or 0, last or 0, count)

        return await self._read(fn)

    def scan_participants(self, chunk_size: int = 20_000) -> ParticipantScan:
        """Every participant's stored JSON text, in chunks, from one consistent read (see :class:`ParticipantScan`)."""
        return ParticipantScan(self, chunk_size)

    async def erase_participant(self, participant_id: str, audit: AuditEntry) -> GenerationStep | None:
        """Delete every piece of personal data: the record, contact addresses in the ledger, tip links.

        ``None`` when there is no such participant.
        """

        def fn(conn):
            before = _generation(conn)
            row = conn.execute("SELECT data FROM participants WHERE id=?", (participant_id,)).fetchone()
            cur = conn.execute("DELETE FROM participants WHERE id=?", (participant_id,))
            if cur.rowcount != 1:
                return None
            for sql, args in erasure_statements(participant_id, json.loads(row[0]) if row else None):
                conn.execute(sql, args)
            now = time.time()
            conn.execute(
                "UPDATE deliveries SET status='cancelled', reason='participant_erased', updated_at=?"
                " WHERE participant_id=? AND status='queued'",
                (now, participant_id),
            )
            conn.execute(
                "UPDATE deliveries SET address='erased:' || id, participant_id=NULL, provider_id=NULL, updated_at=?"
                " WHERE participant_id=?",
                (now, participant_id),
            )
            conn.execute(
                "UPDATE outbox SET address='erased', text='', html=NULL, subject=NULL WHERE delivery_id IN"
                " (SELECT id FROM deliveries WHERE address='erased:' || id)"
            )
            conn.execute("UPDATE tips SET participant_id=NULL, sender=NULL WHERE participant_id=?", (participant_id,))
            self._audit(conn, audit)
            return GenerationStep(before, _generation(conn))

        step = await self._tx(fn)
        if step is not None and not await self.scrub():
            log.warning("the write-ahead log could not be emptied after an erasure; the next checkpoint will")
        return step


def _generation(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT value FROM store_meta WHERE key='participants_generation'").fetchone()[0])


def _meta(conn: sqlite3.Connection, key: str) -> Any:
    return conn.execute("SELECT value FROM store_meta WHERE key=?", (key,)).fetchone()[0]


def _participant_changes(conn: sqlite3.Connection, since: int, limit: int | None) -> ParticipantChanges:
    """See :meth:`SQLiteStore.participant_changes`."""
    conn.execute("BEGIN")  # the first read fixes the snapshot every later read sees
    try:
        version = _version(conn)
        complete = int(_meta(conn, "participant_changes_since"))
        if not complete <= since <= version.generation:
            return ParticipantChanges(version, complete, None, None, None)
        most = -1 if limit is None else limit + 1
        texts = [
            r[0]
            for r in conn.execute(
                "SELECT data FROM participants WHERE generation > ? ORDER BY generation LIMIT ?", (since, most)
            )
        ]
        removed = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM participant_tombstones WHERE generation > ? LIMIT ?", (since, most)
            )
        ]
        count = len(texts) + len(removed)
        if limit is not None and count > limit:
            return ParticipantChanges(version, complete, count, None, None)
        return ParticipantChanges(version, complete, count, texts, removed)
    finally:
        conn.execute("COMMIT")
