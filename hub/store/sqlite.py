"""The embedded store: SQLite in WAL mode, on one dedicated thread so the event loop never blocks.

Every call is a plain function run on that thread with the one connection; writes run inside
``BEGIN IMMEDIATE ... COMMIT`` so a lifecycle change and its ledger rows land together or not at all.

One hub process serves a database (:meth:`SQLiteStore.lock_serving` refuses a second one and names
the first); other processes on the same machine (the command line) may write to it, and the serving
hub follows their changes of participants. Ledger rows are written only for participants that still
exist, in the writing transaction, so an erasure by any process holds whatever an index in memory says.
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
from . import migrations, queries, rules
from .app_first import AppFirstQueries
from .checkpoint import Checkpointer
from .evaluation import EvaluationQueries
from .queries import SharedQueries, audit_args
from .retention import RetentionQueries
from .rules import RulesQueries
from .sqlite_participants import SQLiteParticipants
from .verification import VerificationQueries
from .partners import PartnerQueries
from .serving import ServingLock
from . import (
    URGENCY_RANK,
    AuditEntry,
    DeliveryColumns,
    DeliveryStatus,
    LedgerRow,
    NewRows,
    Outcome,
)

#: every migration's SQL in order (each is idempotent): a new database's schema, for tools that build one
SCHEMA = "\n".join(m.sql for m in migrations.migrations("sqlite"))


class SQLiteStore(SQLiteParticipants, AppFirstQueries, RetentionQueries, VerificationQueries, PartnerQueries,
                  EvaluationQueries, RulesQueries, SharedQueries):
    """:class:`hub.store.Store` on SQLite. One connection, one thread."""

    backend = "sqlite"
    #: one serving process per database (see :meth:`lock_serving`)
    shared = False

    #: ``PRAGMA secure_delete`` of the store's connections: "ON" zeroes deleted content and freed pages
    secure_delete = "ON"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._checkpointer: Checkpointer | None = None
        self._last_lease = 0.0
        self._serving: ServingLock | None = None

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

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
            # deleted rows are overwritten with zeros, not just unlinked: an erased person's data
            # does not linger in free space of the file (see scrub; the cost is in bench/ "privacy")
            conn.execute(f"PRAGMA secure_delete={self.secure_delete}")
            # a national fan-out touches a few hundred MB of ledger pages; the default 2 MB cache thrashes
            conn.execute("PRAGMA cache_size=-262144")
            if self._checkpointer is not None:
                conn.execute("PRAGMA wal_autocheckpoint=0")  # see hub.store.checkpoint
            _check_version(conn, str(self.path))
            _migrate(conn)
            _apply_migrations(conn)
            return conn

        self._conn = await asyncio.get_running_loop().run_in_executor(self._thread, connect)

    def lock_serving(self) -> None:
        """Mark this process as the one serving the database until :meth:`close`; raises
        :class:`~hub.errors.StoreInUse`, naming the serving process, when another one does."""
        if str(self.path) == ":memory:" or self._serving is not None:
            return
        lock = ServingLock(self.path.with_name(self.path.name + ".serving"))
        lock.acquire(str(self.path))
        self._serving = lock

    async def close(self) -> None:
        if self._serving is not None:
            self._serving.release()
            self._serving = None
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            await asyncio.to_thread(checkpointer.close)
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._thread, conn.close)
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None

    async def scrub(self) -> bool:
        """Take deleted data off the disk: a truncating checkpoint moves the log's pages (deleted
        content zeroed by ``secure_delete``) into the database file and empties the log. Whether it
        completed (readers may hold older pages for a while; see :meth:`Checkpointer.truncate`)."""
        if self._checkpointer is None:
            return True
        return await self._checkpointer.truncate()

    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, self._conn)

    # -- the shared primitives (hub.store.queries) ------------------------------------------------
    async def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        return await self._read(lambda conn: conn.execute(sql, tuple(args)).fetchall())

    async def _run(self, sql: str, args: Sequence[Any] = ()) -> int:
        return await self._tx(lambda conn: conn.execute(sql, tuple(args)).rowcount)

    async def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self._tx(lambda conn: conn.executemany(sql, rows))

    # -- what several processes use (nothing to do for one) --------------------------------------
    async def join(self, owner: str) -> None:
        """One process serves an embedded database: no membership to keep."""

    async def listen(self, topic: str, handler: Callable[[str], None]) -> None:
        """Wake-ups within one process are direct; other processes' writes are polled for."""

    def unlisten(self, topic: str, handler: Callable[[str], None]) -> None:
        """Nothing listens on one process."""

    def listening(self) -> bool:
        return False

    async def processes(self) -> list[dict[str, Any]]:
        return []

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
            " json_extract(value, '$[3]'), ?, 'queued', ?, ? FROM json_each(?)"
            # an erased participant is never queued again, whatever an index in memory still holds
            " WHERE json_extract(value, '$[2]') IS NULL"
            " OR EXISTS (SELECT 1 FROM participants p WHERE p.id = json_extract(value, '$[2]'))",
            (action_id, kind, seq, rank, now, now, _rows_json(rows)),
        ).rowcount

    @staticmethod
    def _audit(conn, entry: AuditEntry) -> None:
        conn.execute(queries.ADD_AUDIT, audit_args(entry))

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
                    f" 'queued', ?, ? FROM deliveries WHERE action_id=? AND {queries.REACHED_STARTS}",
                    (action["version"], now, now, action["id"]),
                )
                updates = cur.rowcount
            starts = self._insert_rows(conn, action["id"], "start", 0, rank, rows)
            self._audit(conn, audit)
            return starts, updates

        return await self._tx(fn)

    async def end_action(self, action: Mapping[str, Any], audit: AuditEntry) -> int:
        """Mark the action ended, cancel what was not yet sent, queue the closing message for everyone
        reached. Starts in doubt after a crash count as sent; their closings wait for the provider's
        report (see :data:`hub.store.queries.SENT_IN_DOUBT`)."""

        def fn(conn):
            now = time.time()
            cur = conn.execute(
                "UPDATE actions SET status='ended', data=?, version=?, updated_at=? WHERE id=? AND status='active'",
                (json.dumps(action), action["version"], now, action["id"]),
            )
            if cur.rowcount != 1:
                raise Conflict(f"action {action['id']!r} is not active")
            conn.execute(
                f"UPDATE deliveries SET status='sent', updated_at=? WHERE {queries.SENT_IN_DOUBT}", (now, action["id"])
            )
            conn.execute(
                "UPDATE deliveries SET status='cancelled', reason='action_ended', updated_at=?"
                " WHERE action_id=? AND kind IN ('start','update') AND status='queued'",
                (now, action["id"]),
            )
            cur = conn.execute(
                "INSERT OR IGNORE INTO deliveries (action_id, channel, kind, seq, address, participant_id,"
                " language, urgency_rank, status, next_at, reason, created_at, updated_at)"
                " SELECT action_id, channel, 'end', 0, address, participant_id, language, urgency_rank,"
                f" 'queued', {queries.CLOSING_NEXT_AT}, {queries.CLOSING_REASON}, ?, ?"
                f" FROM deliveries WHERE action_id=? AND {queries.REACHED_STARTS}",
                (now, now, action["id"]),
            )
            ended = cur.rowcount
            self._audit(conn, audit)
            return ended

        return await self._tx(fn)

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

    async def complete(self, outcomes: Sequence[Outcome], *, owner: str | None = None) -> None:
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
                conn.executemany(_SKIP_AFTER_FAILED_START, [(now, i) for i in failed])

        if retry or failed:
            await self._tx(fn)
        else:
            await self._read(fn)

    async def hand_over(self, provider_ids: Mapping[int, str]) -> None:
        """Note, before a request goes out, the ids the provider's later reports will carry for these
        rows in flight (reason ``handed_over``): after a crash such a row is in doubt, and a report
        settles it (``apply_provider_status``) instead of a second message. One statement over a
        JSON array."""
        if not provider_ids:
            return
        data = json.dumps(list(provider_ids.items()), separators=(",", ":"))
        await self._tx(lambda conn: conn.execute(
            "UPDATE deliveries SET provider_id=json_extract(o.value, '$[1]'), reason='handed_over'"
            " FROM json_each(?) AS o WHERE deliveries.id=json_extract(o.value, '$[0]') AND deliveries.status='sending'",
            (data,),
        ))

    async def requeue_orphans(self, owner: str | None = None, *, in_doubt_seconds: float = 0.0) -> int:
        """Give rows whose lease ran out (or, with ``owner=None`` on a single-node store, every row
        in flight) back to the queue: at-least-once delivery after a crash. Rows handed to a provider
        that reports on them later (:meth:`hand_over`) wait ``in_doubt_seconds`` first, so a report of
        their delivery can arrive and settle them before they are sent again."""

        def fn(conn):
            now = time.time()
            where = "status='sending'" if owner is None else "status='sending' AND (lease_until<? OR owner=?)"
            args = () if owner is None else (now, owner)
            cur = conn.execute(
                f"UPDATE deliveries SET status='queued', owner=NULL, lease_until=NULL, updated_at=?, {queries.IN_DOUBT}"
                f" WHERE {where}",
                (now, now + in_doubt_seconds, *args),
            )
            return cur.rowcount

        return await self._tx(fn)

    async def apply_provider_status(
        self, channel: str, provider_id: str, status: str, reason: str | None, *, retry_at: float | None
    ) -> int:
        """Apply a provider's later report on the rows it names (``channel``, ``provider_id``); returns
        how many changed. A start reported failed skips the person's queued update and closing; one
        reported sent or delivered releases a closing held while the start was in doubt."""

        def fn(conn):
            now = time.time()
            if retry_at is not None:
                # after the end, the start or update is not sent again: the report is its failure
                changed = conn.execute(
                    "UPDATE deliveries SET status='failed', reason=?, updated_at=? WHERE channel=? AND provider_id=?"
                    f" AND {queries.ENDED_FOLLOWS} RETURNING id, kind",
                    (reason, now, channel, provider_id),
                ).fetchall()
                cur = conn.execute(
                    "UPDATE deliveries SET status='queued', next_at=?, reason=?, updated_at=?"
                    " WHERE channel=? AND provider_id=? AND status IN ('sent','delivered')",
                    (retry_at, reason, now, channel, provider_id),
                )
                status_now, n = DeliveryStatus.FAILED, len(changed) + cur.rowcount
            else:
                # A status only moves forward: a late "sent" never turns "delivered" back.
                earlier = queries.EARLIER_STATUSES.get(status, ())
                if not earlier:
                    return 0
                settles = queries.SETTLES.format(earlier=f"status IN ({','.join('?' * len(earlier))})")
                changed = conn.execute(
                    "UPDATE deliveries SET status=?, reason=?, updated_at=? WHERE channel=? AND provider_id=?"
                    f" AND {settles} RETURNING id, kind",
                    (status, reason, now, channel, provider_id, *earlier),
                ).fetchall()
                status_now, n = status, len(changed)
            starts = [(now, row_id) for row_id, kind in changed if kind == "start"]
            if starts and status_now == DeliveryStatus.FAILED:
                conn.executemany(_SKIP_AFTER_FAILED_START, starts)
            elif starts:
                conn.executemany(_RELEASE_HELD_CLOSING, starts)
            return n

        return await self._tx(fn)

    async def _insert_rules(self, sql: str, args: Sequence[Any]) -> int | None:
        def fn(conn):
            row = conn.execute(sql, tuple(args)).fetchone()
            if row is None:
                return None
            conn.execute(rules.PRUNE_RULES, (row[0] - rules.KEEP_VERSIONS,))
            return int(row[0])

        return await self._tx(fn)

    async def add_tip(self, tip: Mapping[str, Any]) -> int:
        def fn(conn):
            if not conn.execute(queries.ACTION_EXISTS, (tip["action_id"],)).fetchone():
                raise NotFound(f"action {tip['action_id']!r} not found")
            cur = conn.execute(
                queries.ADD_TIP,
                (
                    tip["action_id"], tip["text"], tip.get("channel"), tip.get("participant_id"),
                    tip.get("sender"), tip.get("photo"), tip.get("photo_type"), time.time(),
                ),
            )
            return cur.fetchone()[0]

        return await self._tx(fn)


# The update and closing rows of a start's person, found by their full unique key (closing: seq 0;
# updates: seq 2 up to the action's version), one index probe each: without seq the probe would read
# every closing or update row of the action. The unary + keeps the planner off the queue's index.
_FOLLOW_UPS = (
    "WITH RECURSIVE s AS (SELECT action_id, channel, address FROM deliveries WHERE id=?2 AND kind='start'),"
    " v(kind, seq) AS (SELECT 'end', 0 UNION ALL SELECT 'update', CASE kind WHEN 'end' THEN 2 ELSE seq+1 END"
    " FROM v WHERE (CASE kind WHEN 'end' THEN 2 ELSE seq+1 END)"
    " <= (SELECT version FROM actions WHERE id=(SELECT action_id FROM s)))"
)
_FOLLOW_UP_KEYS = "(action_id, channel, kind, seq, address) IN (SELECT s.action_id, s.channel, v.kind, v.seq, s.address FROM s, v)"
#: someone whose start never arrived must not get an update or a closing out of the blue (?1 now, ?2 the start)
_SKIP_AFTER_FAILED_START = (
    f"{_FOLLOW_UPS} UPDATE deliveries SET status='skipped', reason='start_not_delivered', updated_at=?1"
    f" WHERE +status='queued' AND {_FOLLOW_UP_KEYS}"
)
#: a closing held while its start was in doubt goes out now (?1 now, ?2 the start)
_RELEASE_HELD_CLOSING = (
    "UPDATE deliveries SET next_at=?1, reason=NULL, updated_at=?1 WHERE +status='queued' AND reason='start_in_doubt'"
    " AND (action_id, channel, kind, seq, address) IN"
    " (SELECT action_id, channel, 'end', 0, address FROM deliveries WHERE id=?2 AND kind='start')"
)


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


def _schema_version(conn: sqlite3.Connection) -> int:
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='store_meta'").fetchone():
        return 0
    row = conn.execute("SELECT value FROM store_meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else 0


def _check_version(conn: sqlite3.Connection, where: str) -> None:
    """Refuse a database a newer burgerhub wrote, before anything is changed."""
    try:
        migrations.check_not_newer("sqlite", _schema_version(conn), where)
    except BaseException:
        conn.close()
        raise


def _apply_migrations(conn: sqlite3.Connection) -> None:
    """Run the migrations after the database's version (every one, idempotent, for a database from
    before schema versions) and record the version reached."""
    current = _schema_version(conn)
    for m in migrations.pending("sqlite", current) or ():
        conn.executescript(m.sql)
        conn.execute(
            "INSERT OR REPLACE INTO store_meta (key, value) VALUES ('schema_version', ?)", (m.version,)
        )
