"""The embedded store: SQLite in WAL mode, on one dedicated thread so the event loop never blocks.

Every call is a plain function run on that thread with the one connection; writes run inside
``BEGIN IMMEDIATE ... COMMIT`` so a lifecycle change and its ledger rows land together or not at all.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from itertools import repeat
from typing import Any, Callable, Mapping, Sequence

from ..errors import Conflict, NotFound
from .checkpoint import Checkpointer
from . import (
    URGENCY_RANK,
    AuditEntry,
    DeliveryColumns,
    DeliveryStatus,
    GenerationStep,
    LedgerRow,
    NewRows,
    Outcome,
    ParticipantChanges,
    ParticipantsVersion,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    urgency TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_status ON actions(status, created_at);

CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    action_id TEXT NOT NULL REFERENCES actions(id),
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    address TEXT NOT NULL,
    participant_id TEXT,
    language TEXT NOT NULL DEFAULT 'nl',
    urgency_rank INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0,
    owner TEXT,
    lease_until REAL,
    provider_id TEXT,
    reason TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (action_id, channel, kind, seq, address)
);
-- A row changes status twice on its way out (queued -> sending -> sent); only the two small partial
-- indexes below follow it, so a fan-out rewrites as few index entries as it can.
-- Lookups by action use the unique key, which starts with action_id.
DROP INDEX IF EXISTS deliveries_due;
DROP INDEX IF EXISTS deliveries_action;
DROP INDEX IF EXISTS deliveries_provider;
CREATE INDEX IF NOT EXISTS deliveries_queue ON deliveries(channel, urgency_rank, next_at, id) WHERE status='queued';
CREATE INDEX IF NOT EXISTS deliveries_inflight ON deliveries(channel, lease_until) WHERE status='sending';
CREATE INDEX IF NOT EXISTS deliveries_provider_id ON deliveries(channel, provider_id) WHERE provider_id IS NOT NULL;
-- Lookups by contact address (a reply, a provider report) need the action that reached it: only
-- start rows are indexed; update and closing rows repeat a start row's address and participant.
DROP INDEX IF EXISTS deliveries_address;
CREATE INDEX IF NOT EXISTS deliveries_start_address ON deliveries(channel, address) WHERE kind='start';
CREATE INDEX IF NOT EXISTS deliveries_participant ON deliveries(participant_id);

CREATE TABLE IF NOT EXISTS participants (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    token_hash TEXT UNIQUE,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0  -- the participants generation of the last write of this row
);
-- (no index on generation: it made every insert twice as slow; the replay after a crash scans the
-- table instead, under a second at national scale, while the snapshot file is read)

-- An erased (or renamed) participant's id and the generation of its removal: no personal data, only
-- what a copy of the index behind the store needs to drop them (see participant_changes).
CREATE TABLE IF NOT EXISTS participant_tombstones (
    id TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS participant_tombstones_generation ON participant_tombstones(generation);

-- Which state of the participants table a derived copy (the audience index snapshot) reflects: a
-- random id for this database and a generation that every change of a participant's data bumps, in
-- the transaction of the change itself (triggers, so that any writer bumps it). The same triggers
-- stamp each written row with the new generation and leave a tombstone for each removed id, so a
-- copy at an older generation can catch up with the changes since. 'participant_changes_since': the
-- generation from which row generations and tombstones are complete (a database from before they
-- existed, or whose older tombstones were pruned, cannot replay from earlier).
CREATE TABLE IF NOT EXISTS store_meta (
    key TEXT PRIMARY KEY,
    value NOT NULL
);
INSERT OR IGNORE INTO store_meta (key, value) VALUES ('database_id', lower(hex(randomblob(16))));
INSERT OR IGNORE INTO store_meta (key, value) VALUES ('participants_generation', 0);
INSERT OR IGNORE INTO store_meta (key, value) VALUES ('participant_changes_since', 0);
DROP TRIGGER IF EXISTS participants_generation_insert;
DROP TRIGGER IF EXISTS participants_generation_update;
DROP TRIGGER IF EXISTS participants_generation_delete;
CREATE TRIGGER IF NOT EXISTS participants_written_insert AFTER INSERT ON participants BEGIN
    UPDATE store_meta SET value = value + 1 WHERE key = 'participants_generation';
    UPDATE participants SET generation = (SELECT value FROM store_meta WHERE key = 'participants_generation')
        WHERE rowid = NEW.rowid;
    DELETE FROM participant_tombstones WHERE id = NEW.id;
END;
CREATE TRIGGER IF NOT EXISTS participants_written_update AFTER UPDATE OF id, data ON participants BEGIN
    UPDATE store_meta SET value = value + 1 WHERE key = 'participants_generation';
    UPDATE participants SET generation = (SELECT value FROM store_meta WHERE key = 'participants_generation')
        WHERE rowid = NEW.rowid;
    INSERT OR REPLACE INTO participant_tombstones (id, generation)
        SELECT OLD.id, value FROM store_meta WHERE key = 'participants_generation' AND OLD.id <> NEW.id;
    DELETE FROM participant_tombstones WHERE id = NEW.id AND OLD.id <> NEW.id;
END;
CREATE TRIGGER IF NOT EXISTS participants_written_delete AFTER DELETE ON participants BEGIN
    UPDATE store_meta SET value = value + 1 WHERE key = 'participants_generation';
    INSERT OR REPLACE INTO participant_tombstones (id, generation)
        SELECT OLD.id, value FROM store_meta WHERE key = 'participants_generation';
END;

CREATE TABLE IF NOT EXISTS tips (
    id INTEGER PRIMARY KEY,
    action_id TEXT NOT NULL REFERENCES actions(id),
    text TEXT NOT NULL,
    channel TEXT,
    participant_id TEXT,
    sender TEXT,
    photo BLOB,
    photo_type TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tips_action ON tips(action_id, id);

CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    verb TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_subject ON audit(subject, id);

CREATE TABLE IF NOT EXISTS records (
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (channel, key)
);

CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    action_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    language TEXT NOT NULL,
    subject TEXT,
    text TEXT NOT NULL,
    html TEXT,
    extra TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_action ON outbox(action_id, id);
"""

ERASED = "erased"



# Statuses a provider report may move a delivery out of, per reported status.
_EARLIER_STATUSES: dict[str, tuple[str, ...]] = {
    "sent": ("queued", "sending"),
    "delivered": ("queued", "sending", "sent"),
    "failed": ("queued", "sending", "sent"),
}

class SQLiteStore:
    """:class:`hub.store.Store` on SQLite. One connection, one thread."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._checkpointer: Checkpointer | None = None
        self._last_lease = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="burgerhub-sqlite")
        if str(self.path) != ":memory:":
            self._checkpointer = Checkpointer(self.path)

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            # a national fan-out touches a few hundred MB of ledger pages; the default 2 MB cache thrashes
            conn.execute("PRAGMA cache_size=-262144")
            if self._checkpointer is not None:
                conn.execute("PRAGMA wal_autocheckpoint=0")  # see hub.store.checkpoint
            _migrate(conn)
            conn.executescript(SCHEMA)
            return conn

        self._conn = await asyncio.get_running_loop().run_in_executor(self._thread, connect)

    async def close(self) -> None:
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            await asyncio.to_thread(checkpointer.close)
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._thread, conn.close)
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None

    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, self._conn)

    async def _tx(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn(conn)`` inside one transaction on the store's thread."""

        def run(conn: sqlite3.Connection) -> Any:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        result = await self._read(run)
        if self._checkpointer is not None:
            self._checkpointer.poke()
        return result

    # -- actions ---------------------------------------------------------------------------
    @staticmethod
    def _insert_rows(conn, action_id: str, kind: str, seq: int, rank: int, rows: NewRows) -> int:
        # One statement for all rows, fed one JSON array: SQLite inserts them without coming back to
        # Python for each row (executemany does, and waits for the GIL every time the loop is busy).
        now = time.time()
        return conn.execute(
            "INSERT OR IGNORE INTO deliveries (action_id, channel, kind, seq, address, participant_id, language,"
            " urgency_rank, status, created_at, updated_at)"
            " SELECT ?, json_extract(value, '$[0]'), ?, ?, json_extract(value, '$[1]'), json_extract(value, '$[2]'),"
            " json_extract(value, '$[3]'), ?, 'queued', ?, ? FROM json_each(?)",
            (action_id, kind, seq, rank, now, now, _rows_json(rows)),
        ).rowcount

    @staticmethod
    def _audit(conn, entry: AuditEntry) -> None:
        conn.execute(
            "INSERT INTO audit (at, actor, role, verb, subject, detail) VALUES (?,?,?,?,?,?)",
            (time.time(), entry.actor, entry.role, entry.verb, entry.subject, json.dumps(entry.detail, default=str)),
        )

    async def create_action(self, action: Mapping[str, Any], rows: NewRows, audit: AuditEntry) -> int:
        rank = URGENCY_RANK[action["urgency"]]

        def fn(conn):
            now = time.time()
            try:
                conn.execute(
                    "INSERT INTO actions (id, status, urgency, version, data, created_at, updated_at)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (action["id"], action["status"], action["urgency"], action["version"], json.dumps(action), now, now),
                )
            except Exception as e:
                if "UNIQUE" in str(e):
                    raise Conflict(f"action {action['id']!r} already exists") from e
                raise
            n = self._insert_rows(conn, action["id"], "start", 0, rank, rows)
            self._audit(conn, audit)
            return n

        return await self._tx(fn)

    async def update_action(
        self, action: Mapping[str, Any], rows: NewRows, audit: AuditEntry, *, notify_reached: bool
    ) -> tuple[int, int]:
        """Save the new version; queue starts for the newly reached and updates for the already reached."""
        rank = URGENCY_RANK[action["urgency"]]

        def fn(conn):
            cur = conn.execute(
                "UPDATE actions SET data=?, version=?, updated_at=? WHERE id=? AND status='active' AND version=?",
                (json.dumps(action), action["version"], time.time(), action["id"], action["version"] - 1),
            )
            if cur.rowcount != 1:
                raise Conflict(f"action {action['id']!r} is not active or was changed concurrently")
            updates = 0
            if notify_reached:
                now = time.time()
                cur = conn.execute(
                    "INSERT OR IGNORE INTO deliveries (action_id, channel, kind, seq, address, participant_id,"
                    " language, urgency_rank, status, created_at, updated_at)"
                    " SELECT action_id, channel, 'update', ?, address, participant_id, language, urgency_rank,"
                    " 'queued', ?, ? FROM deliveries WHERE action_id=? AND kind='start'"
                    " AND status IN ('sending','sent','delivered')",
                    (action["version"], now, now, action["id"]),
                )
                updates = cur.rowcount
            starts = self._insert_rows(conn, action["id"], "start", 0, rank, rows)
            self._audit(conn, audit)
            return starts, updates

        return await self._tx(fn)

    async def end_action(self, action: Mapping[str, Any], audit: AuditEntry) -> int:
        """Mark the action ended, cancel what was not yet sent, queue the closing message for everyone reached."""

        def fn(conn):
            now = time.time()
            cur = conn.execute(
                "UPDATE actions SET status='ended', data=?, version=?, updated_at=? WHERE id=? AND status='active'",
                (json.dumps(action), action["version"], now, action["id"]),
            )
            if cur.rowcount != 1:
                raise Conflict(f"action {action['id']!r} is not active")
            conn.execute(
                "UPDATE deliveries SET status='cancelled', reason='action_ended', updated_at=?"
                " WHERE action_id=? AND kind IN ('start','update') AND status='queued'",
                (now, action["id"]),
            )
            cur = conn.execute(
                "INSERT OR IGNORE INTO deliveries (action_id, channel, kind, seq, address, participant_id,"
                " language, urgency_rank, status, created_at, updated_at)"
                " SELECT action_id, channel, 'end', 0, address, participant_id, language, urgency_rank,"
                " 'queued', ?, ? FROM deliveries WHERE action_id=? AND kind='start'"
                " AND status IN ('sending','sent','delivered')",
                (now, now, action["id"]),
            )
            ended = cur.rowcount
            self._audit(conn, audit)
            return ended

        return await self._tx(fn)

    async def get_action(self, action_id: str) -> dict[str, Any] | None:
        def fn(conn):
            row = conn.execute("SELECT data FROM actions WHERE id=?", (action_id,)).fetchone()
            return json.loads(row[0]) if row else None

        return await self._read(fn)

    async def list_actions(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        def fn(conn):
            if status:
                rows = conn.execute(
                    "SELECT data FROM actions WHERE status=? ORDER BY created_at DESC LIMIT ?", (status, limit)
                )
            else:
                rows = conn.execute("SELECT data FROM actions ORDER BY created_at DESC LIMIT ?", (limit,))
            return [json.loads(r[0]) for r in rows]

        return await self._read(fn)

    async def action_counts(self, action_id: str) -> dict[str, Any]:
        """``{channel: {kind: {status: n}}}`` plus failure and skip reasons."""

        def fn(conn):
            out: dict[str, Any] = {}
            for channel, kind, status, reason, n in conn.execute(
                "SELECT channel, kind, status, reason, count(*) FROM deliveries WHERE action_id=?"
                " GROUP BY channel, kind, status, reason",
                (action_id,),
            ):
                k = out.setdefault(channel, {}).setdefault(kind, {"targeted": 0, "reasons": {}})
                k["targeted"] += n
                k[status] = k.get(status, 0) + n
                if reason and status in ("failed", "cancelled", "skipped"):
                    k["reasons"][reason] = k["reasons"].get(reason, 0) + n
            return out

        return await self._read(fn)

    async def reached_addresses(self, action_id: str) -> dict[str, set[str]]:
        """Per channel, every address that has a start row (queued or further) for this action."""

        def fn(conn):
            out: dict[str, set[str]] = {}
            for channel, address in conn.execute(
                "SELECT channel, address FROM deliveries WHERE action_id=? AND kind='start'", (action_id,)
            ):
                out.setdefault(channel, set()).add(address)
            return out

        return await self._read(fn)

    async def delivery_recipients(self, action_id: str, kind: str = "start") -> list[tuple[str, str, str | None]]:
        def fn(conn):
            return [
                tuple(r)
                for r in conn.execute(
                    "SELECT channel, address, participant_id FROM deliveries WHERE action_id=? AND kind=?"
                    " AND status IN ('sending','sent','delivered') ORDER BY id",
                    (action_id, kind),
                )
            ]

        return await self._read(fn)

    # -- the ledger ------------------------------------------------------------------------
    async def claim(self, channel: str, limit: int, *, owner: str, lease_seconds: float) -> list[LedgerRow]:
        """Take up to ``limit`` due rows, urgent first, and lease them to ``owner``.

        The claimed rows come back as one JSON array rather than a row at a time (``RETURNING``), so
        the store's thread does not need the GIL once per row while the event loop is busy.
        """

        def fn(conn):
            now = time.time()
            # a lease stamp no earlier claim of this store used identifies the rows this claim took
            lease = max(now + lease_seconds, self._last_lease + 1e-6)
            self._last_lease = lease
            conn.execute(
                "UPDATE deliveries SET status='sending', owner=?, lease_until=?, attempts=attempts+1, updated_at=?"
                " WHERE id IN (SELECT id FROM deliveries WHERE channel=? AND status='queued' AND next_at<=?"
                " ORDER BY urgency_rank, next_at, id LIMIT ?)",
                (owner, lease, now, channel, now, limit),
            )
            (data,) = conn.execute(
                "SELECT json_group_array(json_array(id, action_id, channel, kind, seq, address, participant_id,"
                " language, attempts, urgency_rank)) FROM deliveries"
                " WHERE channel=? AND status='sending' AND lease_until=? AND owner=?",
                (channel, lease, owner),
            ).fetchone()
            rows = json.loads(data)
            rows.sort(key=lambda r: (r[9], r[0]))
            return [LedgerRow._make(r[:9]) for r in rows]

        return await self._tx(fn)

    async def complete(self, outcomes: Sequence[Outcome]) -> None:
        """Write what became of claimed rows: final statuses, retries, and skips after a failed start.

        Each kind of change is one statement over a JSON array of the outcomes; the usual case (all
        final, none failed) is a single statement, atomic without an explicit transaction.
        """
        if not outcomes:
            return
        final = [(o.id, o.status, o.reason, o.provider_id) for o in outcomes if o.retry_at is None]
        retry = [(o.id, o.retry_at, o.reason) for o in outcomes if o.retry_at is not None]
        failed = [o.id for o in outcomes if o.status == DeliveryStatus.FAILED and o.retry_at is None]

        def fn(conn):
            now = time.time()
            if final:
                conn.execute(
                    "UPDATE deliveries SET status=json_extract(o.value, '$[1]'), reason=json_extract(o.value, '$[2]'),"
                    " provider_id=coalesce(json_extract(o.value, '$[3]'), provider_id), owner=NULL, lease_until=NULL,"
                    " updated_at=? FROM json_each(?) AS o"
                    " WHERE deliveries.id=json_extract(o.value, '$[0]') AND deliveries.status='sending'",
                    (now, json.dumps(final, separators=(",", ":"))),
                )
            if retry:
                conn.execute(
                    "UPDATE deliveries SET status='queued', next_at=json_extract(o.value, '$[1]'),"
                    " reason=json_extract(o.value, '$[2]'), owner=NULL, lease_until=NULL, updated_at=?"
                    " FROM json_each(?) AS o"
                    " WHERE deliveries.id=json_extract(o.value, '$[0]') AND deliveries.status='sending'",
                    (now, json.dumps(retry, separators=(",", ":"))),
                )
            if failed:
                # someone whose start never arrived must not get a closing message out of the blue
                conn.executemany(
                    "UPDATE deliveries SET status='skipped', reason='start_not_delivered', updated_at=?"
                    " WHERE status='queued' AND kind IN ('update','end') AND (action_id, channel, address) ="
                    " (SELECT action_id, channel, address FROM deliveries WHERE id=? AND kind='start')",
                    [(now, i) for i in failed],
                )

        if retry or failed:
            await self._tx(fn)
        else:
            await self._read(fn)

    async def requeue_orphans(self, owner: str | None = None) -> int:
        """Give rows whose lease ran out (or, with ``owner=None`` on a single-node store, every row
        in flight) back to the queue: at-least-once delivery after a crash."""

        def fn(conn):
            now = time.time()
            if owner is None:
                cur = conn.execute(
                    "UPDATE deliveries SET status='queued', owner=NULL, lease_until=NULL, updated_at=?"
                    " WHERE status='sending'",
                    (now,),
                )
            else:
                cur = conn.execute(
                    "UPDATE deliveries SET status='queued', owner=NULL, lease_until=NULL, updated_at=?"
                    " WHERE status='sending' AND (lease_until<? OR owner=?)",
                    (now, now, owner),
                )
            return cur.rowcount

        return await self._tx(fn)

    async def next_due(self, channel: str) -> float | None:
        def fn(conn):
            row = conn.execute(
                "SELECT min(next_at) FROM deliveries WHERE channel=? AND status='queued'", (channel,)
            ).fetchone()
            return row[0]

        return await self._read(fn)

    async def apply_provider_status(
        self, channel: str, provider_id: str, status: str, reason: str | None, *, retry_at: float | None
    ) -> int:
        def fn(conn):
            now = time.time()
            if retry_at is not None:
                cur = conn.execute(
                    "UPDATE deliveries SET status='queued', next_at=?, reason=?, updated_at=?"
                    " WHERE channel=? AND provider_id=? AND status IN ('sent','delivered')",
                    (retry_at, reason, now, channel, provider_id),
                )
            else:
                # A status only moves forward: a late "sent" never turns "delivered" back.
                earlier = _EARLIER_STATUSES.get(status, ())
                if not earlier:
                    return 0
                marks = ",".join("?" * len(earlier))
                cur = conn.execute(
                    "UPDATE deliveries SET status=?, reason=?, updated_at=? WHERE channel=? AND provider_id=?"
                    f" AND status IN ({marks})",
                    (status, reason, now, channel, provider_id, *earlier),
                )
            return cur.rowcount

        return await self._tx(fn)

    async def latest_action_for(self, channel: str, address: str) -> str | None:
        def fn(conn):
            row = conn.execute(
                "SELECT d.action_id FROM deliveries d JOIN actions a ON a.id=d.action_id"
                " WHERE d.channel=? AND d.address=? AND d.kind='start'"
                " ORDER BY a.status='active' DESC, d.id DESC LIMIT 1",
                (channel, address),
            ).fetchone()
            return row[0] if row else None

        return await self._read(fn)

    async def participant_for(self, channel: str, address: str) -> str | None:
        """The participant this channel last reached at ``address`` (from the ledger), if any."""

        def fn(conn):
            row = conn.execute(
                "SELECT participant_id FROM deliveries WHERE channel=? AND address=? AND kind='start'"
                " AND participant_id IS NOT NULL ORDER BY id DESC LIMIT 1",
                (channel, address),
            ).fetchone()
            return row[0] if row else None

        return await self._read(fn)

    async def ledger_rows(self, action_id: str) -> list[dict[str, Any]]:
        def fn(conn):
            cur = conn.execute(
                "SELECT id, channel, kind, seq, address, participant_id, status, attempts, reason, provider_id"
                " FROM deliveries WHERE action_id=? ORDER BY id",
                (action_id,),
            )
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r)) for r in cur]

        return await self._read(fn)

    async def busy_channels(self) -> set[str]:
        """Channels with rows in flight or queued (retries not yet due included)."""

        def fn(conn):
            # one query per status, so each is answered from its small partial index
            return {
                r[0]
                for r in conn.execute(
                    "SELECT channel FROM deliveries WHERE status='queued'"
                    " UNION SELECT channel FROM deliveries WHERE status='sending'"
                )
            }

        return await self._read(fn)

    async def pending_channels(self) -> set[str]:
        def fn(conn):
            return {r[0] for r in conn.execute("SELECT DISTINCT channel FROM deliveries WHERE status='queued'")}

        return await self._read(fn)

    # -- participants ----------------------------------------------------------------------
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

    async def get_participant(self, participant_id: str) -> dict[str, Any] | None:
        def fn(conn):
            row = conn.execute("SELECT data FROM participants WHERE id=?", (participant_id,)).fetchone()
            return json.loads(row[0]) if row else None

        return await self._read(fn)

    async def iter_participants(self) -> list[dict[str, Any]]:
        """Every participant at once (small stores, exports); the index streams with :meth:`scan_participants`."""

        def fn(conn):
            return [json.loads(r[0]) for r in conn.execute("SELECT data FROM participants ORDER BY rowid")]

        return await self._read(fn)

    async def count_participants(self) -> int:
        return await self._read(lambda conn: conn.execute("SELECT count(*) FROM participants").fetchone()[0])

    async def set_participant_token(self, participant_id: str, token_hash: str) -> None:
        def fn(conn):
            cur = conn.execute("UPDATE participants SET token_hash=? WHERE id=?", (token_hash, participant_id))
            if cur.rowcount != 1:
                raise NotFound(f"participant {participant_id!r} not found")

        await self._tx(fn)

    async def participant_by_token(self, token_hash: str) -> str | None:
        def fn(conn):
            row = conn.execute("SELECT id FROM participants WHERE token_hash=?", (token_hash,)).fetchone()
            return row[0] if row else None

        return await self._read(fn)

    async def erase_participant(self, participant_id: str, audit: AuditEntry) -> GenerationStep | None:
        """Delete every piece of personal data: the record, contact addresses in the ledger, tip links.

        ``None`` when there is no such participant.
        """

        def fn(conn):
            before = _generation(conn)
            cur = conn.execute("DELETE FROM participants WHERE id=?", (participant_id,))
            if cur.rowcount != 1:
                return None
            now = time.time()
            conn.execute(
                "UPDATE deliveries SET status='cancelled', reason='participant_erased', updated_at=?"
                " WHERE participant_id=? AND status='queued'",
                (now, participant_id),
            )
            conn.execute(
                "UPDATE deliveries SET address='erased:' || id, participant_id=NULL, updated_at=?"
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

        return await self._tx(fn)

    # -- tips ------------------------------------------------------------------------------
    async def add_tip(self, tip: Mapping[str, Any]) -> int:
        def fn(conn):
            if not conn.execute("SELECT 1 FROM actions WHERE id=?", (tip["action_id"],)).fetchone():
                raise NotFound(f"action {tip['action_id']!r} not found")
            cur = conn.execute(
                "INSERT INTO tips (action_id, text, channel, participant_id, sender, photo, photo_type, created_at)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (
                    tip["action_id"], tip["text"], tip.get("channel"), tip.get("participant_id"),
                    tip.get("sender"), tip.get("photo"), tip.get("photo_type"), time.time(),
                ),
            )
            return cur.lastrowid

        return await self._tx(fn)

    async def list_tips(self, action_id: str, *, after: int = 0) -> list[dict[str, Any]]:
        def fn(conn):
            cur = conn.execute(
                "SELECT id, action_id, text, channel, participant_id, sender, photo IS NOT NULL AS has_photo,"
                " photo_type, created_at FROM tips WHERE action_id=? AND id>? ORDER BY id DESC",
                (action_id, after),
            )
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r)) for r in cur]

        return await self._read(fn)

    async def tip_photo(self, action_id: str, tip_id: int) -> tuple[bytes, str] | None:
        def fn(conn):
            row = conn.execute(
                "SELECT photo, photo_type FROM tips WHERE action_id=? AND id=? AND photo IS NOT NULL",
                (action_id, tip_id),
            ).fetchone()
            return (row[0], row[1]) if row else None

        return await self._read(fn)

    # -- audit -----------------------------------------------------------------------------
    async def add_audit(self, entry: AuditEntry) -> None:
        await self._tx(lambda conn: self._audit(conn, entry))

    async def list_audit(self, *, subject: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        def fn(conn):
            q = "SELECT id, at, actor, role, verb, subject, detail FROM audit"
            args: tuple = ()
            if subject:
                q += " WHERE subject=?"
                args = (subject,)
            cur = conn.execute(q + " ORDER BY id DESC LIMIT ?", (*args, limit))
            return [
                {"id": i, "at": at, "actor": a, "role": r, "verb": v, "subject": s, "detail": json.loads(d)}
                for i, at, a, r, v, s, d in cur
            ]

        return await self._read(fn)

    # -- channel records -------------------------------------------------------------------
    async def record_get(self, channel: str, key: str) -> dict[str, Any] | None:
        def fn(conn):
            row = conn.execute("SELECT value FROM records WHERE channel=? AND key=?", (channel, key)).fetchone()
            return json.loads(row[0]) if row else None

        return await self._read(fn)

    async def record_put(self, channel: str, key: str, value: Mapping[str, Any]) -> None:
        await self._tx(
            lambda conn: conn.execute(
                "INSERT INTO records (channel, key, value) VALUES (?,?,?)"
                " ON CONFLICT(channel, key) DO UPDATE SET value=excluded.value",
                (channel, key, json.dumps(value)),
            )
        )

    async def record_delete(self, channel: str, key: str) -> bool:
        return await self._tx(
            lambda conn: conn.execute("DELETE FROM records WHERE channel=? AND key=?", (channel, key)).rowcount == 1
        )

    async def record_scan(self, channel: str, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        def fn(conn):
            cur = conn.execute(
                "SELECT key, value FROM records WHERE channel=? AND substr(key, 1, ?)=? ORDER BY key",
                (channel, len(prefix), prefix),
            )
            return [(k, json.loads(v)) for k, v in cur]

        return await self._read(fn)

    # -- sandbox outbox --------------------------------------------------------------------
    async def outbox_add(self, rows: Sequence[Mapping[str, Any]]) -> None:
        def fn(conn):
            now = time.time()
            conn.executemany(
                "INSERT INTO outbox (delivery_id, channel, action_id, kind, address, language, subject, text, html,"
                " extra, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        r["delivery_id"], r["channel"], r["action_id"], r["kind"], r["address"], r["language"],
                        r.get("subject"), r["text"], r.get("html"), json.dumps(r.get("extra", {}), default=str), now,
                    )
                    for r in rows
                ],
            )

        await self._tx(fn)

    async def outbox_list(
        self, *, channel: str | None = None, action_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        def fn(conn):
            where, args = [], []
            if channel:
                where.append("channel=?")
                args.append(channel)
            if action_id:
                where.append("action_id=?")
                args.append(action_id)
            q = "SELECT id, delivery_id, channel, action_id, kind, address, language, subject, text, html, extra," \
                " created_at FROM outbox"
            if where:
                q += " WHERE " + " AND ".join(where)
            cur = conn.execute(q + " ORDER BY id DESC LIMIT ?", (*args, limit))
            cols = [c[0] for c in cur.description]
            out = []
            for r in cur:
                d = dict(zip(cols, r))
                d["extra"] = json.loads(d["extra"])
                d["sandbox"] = True
                out.append(d)
            return out

        return await self._read(fn)


# -- participants: generation and streaming scan -----------------------------------------------------


def _rows_json(rows: NewRows) -> str:
    """New ledger rows as one JSON array of ``[channel, address, participant_id, language]``; columns
    are zipped in C, so no Python code runs per row."""
    items: list[Any] = []
    for r in rows:
        if isinstance(r, DeliveryColumns):
            items.extend(zip(repeat(r.channel), r.addresses, r.participant_ids, r.languages))
        else:
            items.append(r)
    return json.dumps(items, separators=(",", ":"))


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


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a database from before row generations and tombstones up to date (before :data:`SCHEMA`
    runs): the column is added (existing rows get generation 0) and changes can be replayed only from
    the generation the database has now."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(participants)")}
    if not columns or "generation" in columns:
        return
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='store_meta'").fetchone()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("ALTER TABLE participants ADD COLUMN generation INTEGER NOT NULL DEFAULT 0")
        if has_meta:
            conn.execute(
                "INSERT OR REPLACE INTO store_meta (key, value) SELECT 'participant_changes_since', value"
                " FROM store_meta WHERE key='participants_generation'"
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _version(conn: sqlite3.Connection) -> ParticipantsVersion:
    database_id = conn.execute("SELECT value FROM store_meta WHERE key='database_id'").fetchone()[0]
    return ParticipantsVersion(str(database_id), _generation(conn))


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
