"""The shared store: PostgreSQL through asyncpg, for any number of hub processes on one database.

What several processes need beyond the embedded store:

* **Claims never overlap**: a claim takes due rows with ``FOR UPDATE SKIP LOCKED``, urgent first, so
  two processes claiming at once each get rows the other did not. The ledger's claims, outcomes and
  requeues are in :mod:`hub.store.pg_ledger` (the claim state lives apart from the ledger's rows).
* **Wake-ups cross processes**: a transaction that queues ledger rows sends ``NOTIFY burgerhub_ledger``
  with each channel's name (delivered at commit); a tip sends ``burgerhub_tips``; a new version of
  the routing rules sends ``burgerhub_rules``; any change of participants sends
  ``burgerhub_participants`` (from a trigger, whoever the writer). Every process
  listens on one connection of its own (:meth:`PostgresStore.listen`).
* **Nothing is lost to a killed process**: every process renews a row in ``hub_processes`` every few
  seconds and holds a session advisory lock of its own (its *presence*) on its listening connection;
  the sweep gives the rows in flight of a process that stopped renewing, or whose presence lock is gone
  (its sessions ended: killed, or its connection lost), back to the queue without waiting for their
  leases, and a late outcome of such a process changes nothing (an outcome is written only while its
  row is still leased to the writer).
* **One rate budget per channel** (``rate_buckets``), reserved in one statement per few messages
  (:class:`hub.ratelimit.SharedRateLimiter`).
* **Once-only duties** are session advisory locks on a connection of their own (:mod:`hub.duties`):
  the lock goes with the connection when its process dies.
* **Erasure holds everywhere**: a transaction that writes ledger rows takes a shared transaction lock
  and queues only participants that still exist; an erasure takes the same lock exclusively, so it
  waits for ledger writes under way and no later one can queue the erased person.
* **Participants' generation in commit order**: writers of participants are serialised by a
  transaction lock taken by a statement trigger, so generations are handed out in commit order and a
  follower that read generation G has seen every change up to G.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import time
from typing import Any, Callable, Mapping, Sequence

from ..errors import NotFound, StoreError
from . import AuditEntry, GenerationStep, ParticipantChanges, ParticipantsVersion
from . import migrations, queries, rules
from .pg_ledger import CANCEL_PARTICIPANT, ERASURE_LOCK, PostgresLedger
from .pg_ledger import count as _count
from .app_first import AppFirstQueries
from .evaluation import EvaluationQueries
from .queries import SharedQueries, audit_args, numbered
from .retention import RetentionQueries
from .rules import RulesQueries
from .verification import VerificationQueries, erasure_statements
from .partners import PartnerQueries

log = logging.getLogger("burgerhub.store.postgres")

#: transaction lock keys (pg_advisory_xact_lock): participants' writers; ledger writers vs erasure
PARTICIPANTS_LOCK = 7301000001
MIGRATION_LOCK = 7301000003

#: a process that has not renewed its heartbeat for this long is taken for dead
DEAD_AFTER_SECONDS = 10.0
HEARTBEAT_SECONDS = 2.0
#: a clock further than this from the database server's is reported (a fifth of DEAD_AFTER_SECONDS)
CLOCK_OFF_SECONDS = 2.0
#: how often a sweep looks through every row in flight (expired leases, owners no process claims)
#: when no process has been seen to end; finding one that ended takes no such scan
FULL_SWEEP_SECONDS = 15.0

TOPICS = {"ledger": "burgerhub_ledger", "tips": "burgerhub_tips", "participants": "burgerhub_participants",
          "rules": "burgerhub_rules"}

#: The ledger's queue and the rows a batch touches are in memory while a fan-out runs; with the
#: default cost of a random page (4, made for spinning disks) the planner would rather scan the
#: whole queue than look up a batch of 1,000 keys in its primary key.
PLANNER_SETTINGS = {"random_page_cost": "1.1"}

#: the listening connection notices a vanished peer machine within about 10 s (its presence lock goes)
KEEPALIVES = {"tcp_keepalives_idle": "3", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"}


def presence_key(owner: str) -> int:
    """The advisory lock key a process holds while it lives (63 bits, apart from the duties' keys)."""
    return int.from_bytes(hashlib.sha256(f"burgerhub:process:{owner}".encode()).digest()[:8], "big") >> 1

def redacted(dsn: str) -> str:
    """A connection string without its password, for messages and logs."""
    if "@" not in dsn or "://" not in dsn:
        return dsn
    scheme, rest = dsn.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


class PostgresStore(PostgresLedger, AppFirstQueries, RetentionQueries, VerificationQueries, PartnerQueries,
                    EvaluationQueries, RulesQueries, SharedQueries):
    """:class:`hub.store.Store` on PostgreSQL, shared by any number of hub processes."""

    backend = "postgresql"
    LEDGER_COMPANIONS = (
        "DELETE FROM deliveries_pending WHERE id IN (SELECT id FROM deliveries WHERE action_id=?)",
        "DELETE FROM delivery_receipts r USING deliveries d WHERE d.action_id=? AND r.id=d.id"
        " AND r.channel=d.channel AND r.provider_id=d.provider_id",
    )
    #: several processes may use this store at once
    shared = True
    ACTION_ORGANISATION = "((data::jsonb) ->> 'organisation')"

    def __init__(self, dsn: str, *, min_size: int = 2, max_size: int = 10):
        self.dsn = dsn
        self.min_size, self.max_size = min_size, max_size
        self.owner: str | None = None
        self._pool = None
        self._listener = None
        self._handlers: dict[str, list[Callable[[str], None]]] = {}
        self._heartbeat: asyncio.Task | None = None
        self._info = {"host": socket.gethostname(), "pid": os.getpid()}
        #: this machine's clock less the database server's, seconds, at the last heartbeat (None before)
        self.clock_offset: float | None = None
        self._clock_off = False
        self._saved_generation: int | None = None
        self._full_sweep = 0.0
        self._scrubber: asyncio.Task | None = None
        self._scrub_again = False

    def __repr__(self) -> str:
        return f"PostgresStore({redacted(self.dsn)!r})"

    # -- lifecycle -------------------------------------------------------------------------------
    async def open(self) -> None:
        import asyncpg

        try:
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=self.min_size, max_size=self.max_size,
                server_settings={"application_name": "burgerhub", **PLANNER_SETTINGS},
            )
        except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as e:
            raise StoreError(f"cannot connect to PostgreSQL at {redacted(self.dsn)}: {e}") from e
        try:
            await self._migrate()
        except BaseException:
            await self._pool.close()
            self._pool = None
            raise

    async def _migrate(self) -> None:
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                await conn.execute("CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                row = await conn.fetchrow("SELECT value FROM store_meta WHERE key='schema_version'")
                current = int(row[0]) if row else 0
                migrations.check_not_newer("postgres", current, redacted(self.dsn))
            for m in migrations.pending("postgres", current):
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                    row = await conn.fetchrow("SELECT value FROM store_meta WHERE key='schema_version'")
                    if row and int(row[0]) >= m.version:
                        continue  # another process migrated meanwhile
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO store_meta (key, value) VALUES ('schema_version', $1)"
                        " ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                        str(m.version),
                    )
                    log.info("PostgreSQL schema migrated to version %d (%s)", m.version, m.name)

    async def close(self) -> None:
        if self._scrubber is not None:
            await asyncio.gather(self._scrubber, return_exceptions=True)
            self._scrubber = None
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
            self._heartbeat = None
        if self._listener is not None:
            listener, self._listener = self._listener, None
            try:
                await listener.close(timeout=5)
            except Exception:
                listener.terminate()
        if self._pool is not None:
            if self.owner is not None:
                try:
                    # rows still leased to this process (handed over, never started) go back at once
                    await self._requeue("owner=$2", self.owner)
                    await self._pool.execute("DELETE FROM hub_processes WHERE owner=$1", self.owner)
                except Exception:
                    log.warning("could not sign off from hub_processes")
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), 10)
            except asyncio.TimeoutError:
                pool.terminate()

    def _p(self):
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    # -- the shared primitives -------------------------------------------------------------------
    async def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        return [tuple(r) for r in await self._p().fetch(numbered(sql), *args)]

    async def _run(self, sql: str, args: Sequence[Any] = ()) -> int:
        return _count(await self._p().execute(numbered(sql), *args))

    async def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self._p().executemany(numbered(sql), rows)

    # -- process membership, wake-ups ------------------------------------------------------------
    async def join(self, owner: str) -> None:
        """Register this process (``owner``: the engine's lease owner) and keep its heartbeat going.

        The presence lock is taken before the heartbeat row is written, so a process listed in
        ``hub_processes`` without its lock held has ended."""
        self.owner = owner
        if self.listening():
            await self._listener.execute("SELECT pg_advisory_lock($1)", presence_key(owner))
        else:
            await self._connect_listener()
        await self._beat()
        self._heartbeat = asyncio.create_task(self._beat_forever(), name="burgerhub-heartbeat")

    async def _connect_listener(self) -> None:
        """(Re)open the listening connection: this process's presence lock and every wake-up it listens to."""
        import asyncpg

        old, self._listener = self._listener, None
        if old is not None and not old.is_closed():
            old.terminate()
        conn = await asyncpg.connect(
            self.dsn, timeout=10, server_settings={"application_name": "burgerhub-listen", **KEEPALIVES}
        )
        try:
            if self.owner is not None:
                await conn.execute("SELECT pg_advisory_lock($1)", presence_key(self.owner))
            for channel in self._handlers:
                await conn.add_listener(channel, self._dispatch)
        except BaseException:
            conn.terminate()
            raise
        self._listener = conn

    async def _beat(self) -> None:
        now = time.time()
        server_now = await self._p().fetchval(
            "INSERT INTO hub_processes (owner, host, pid, started_at, seen_at) VALUES ($1,$2,$3,$4,$4)"
            " ON CONFLICT (owner) DO UPDATE SET seen_at=excluded.seen_at"
            " RETURNING extract(epoch FROM clock_timestamp())::float8",
            self.owner, self._info["host"], self._info["pid"], now,
        )
        self._observe_clock(now, server_now, time.time())

    def _observe_clock(self, sent: float, server_now: float, answered: float) -> None:
        """Compare this machine's clock with the database server's, at every heartbeat.

        Hubs judge each other's heartbeats, leases and retry times by their own clocks: a clock that
        is off by seconds makes a hub take a live one for dead (its messages are sent twice) or keep a
        dead one's work waiting. The offset is the middle of the round trip less the server's time; it
        counts as off only beyond :data:`CLOCK_OFF_SECONDS` plus half the round trip. A warning when
        it goes off, a note when it is back; ``clock_offset`` holds the last measure."""
        offset = (sent + answered) / 2 - server_now
        self.clock_offset = offset
        off = abs(offset) > CLOCK_OFF_SECONDS + (answered - sent) / 2
        if off and not self._clock_off:
            log.warning(
                "this machine's clock is %+.1f s off the database server's: hubs judge each other's"
                " heartbeats and leases by their clocks; keep every hub's clock in sync (NTP)", offset,
            )
        elif self._clock_off and not off:
            log.info("this machine's clock is in step with the database server's again (%+.2f s)", offset)
        self._clock_off = off

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                if not self.listening():
                    # without its presence lock this process counts as gone: its rows in flight may
                    # have been given back (a late outcome then changes nothing); take it again
                    log.warning("the listening connection was lost; reconnecting")
                    await self._connect_listener()
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("heartbeat failed: %s", e)

    async def processes(self) -> list[dict[str, Any]]:
        """The hub processes that renewed their heartbeat lately."""
        rows = await self._p().fetch(
            "SELECT owner, host, pid, started_at, seen_at FROM hub_processes WHERE seen_at > $1 ORDER BY started_at",
            time.time() - DEAD_AFTER_SECONDS,
        )
        return [dict(r) for r in rows]

    async def listen(self, topic: str, handler: Callable[[str], None]) -> None:
        """Call ``handler(payload)`` for every notification on ``topic`` ("ledger", "tips",
        "participants", "rules"), whichever process sent it."""
        if self._listener is None:
            await self._connect_listener()
        channel = TOPICS[topic]
        if channel not in self._handlers:
            self._handlers[channel] = []
            await self._listener.add_listener(channel, self._dispatch)
        self._handlers[channel].append(handler)

    def unlisten(self, topic: str, handler: Callable[[str], None]) -> None:
        """Stop calling ``handler`` for ``topic`` (nothing if it was not listening)."""
        handlers = self._handlers.get(TOPICS[topic], [])
        if handler in handlers:
            handlers.remove(handler)

    def _dispatch(self, _conn, _pid, name: str, payload: str) -> None:
        for h in list(self._handlers.get(name, ())):
            try:
                h(payload)
            except Exception:
                log.exception("notification handler for %s failed", name)

    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    # -- the ledger (writes in hub.store.pg_ledger) --------------------------------------------
    async def gone(self) -> list[tuple[str, float]]:
        """(owner, last beat) of the processes whose heartbeat is recent but whose presence lock is no
        longer held: they ended (``kill -9``, a crash, a lost connection) since their last beat."""
        recent = await self._p().fetch(
            "SELECT owner, seen_at FROM hub_processes WHERE seen_at > $1", time.time() - DEAD_AFTER_SECONDS
        )
        if not recent:
            return []
        # read after the processes: one listed there took its lock before writing its row
        held = {
            (int(r[0]) << 32) | int(r[1])
            for r in await self._p().fetch(
                "SELECT classid::int8, objid::int8 FROM pg_locks WHERE locktype='advisory' AND objsubid=1"
                " AND granted AND database=(SELECT oid FROM pg_database WHERE datname=current_database())"
            )
        }
        return [(r[0], r[1]) for r in recent if presence_key(r[0]) not in held]

    async def requeue_orphans(self, owner: str | None = None, *, in_doubt_seconds: float = 0.0) -> int:
        """Give back to the queue the rows in flight whose lease ran out, whose process stopped
        renewing its heartbeat or lost its presence lock, or (``owner``) that a previous run of this
        process left. Rows handed to a provider that reports on them later wait ``in_doubt_seconds``
        (see :meth:`hub.store.sqlite.SQLiteStore.requeue_orphans`).

        Looking through the rows in flight is a scan (of every entry of the in-flight index not yet
        vacuumed: many, during a large fan-out), so a sweep makes it only when a process was seen to
        end (its presence lock released, or its heartbeat stale), when asked for ``owner``, or every
        :data:`FULL_SWEEP_SECONDS`; otherwise it costs two small queries."""
        now = time.time()
        ended = await self.gone()
        if ended:
            log.warning("hub processes gone (presence lock released): %s", ", ".join(o for o, _ in ended))
        ended += [(r[0], r[1]) for r in await self._p().fetch(
            "SELECT owner, seen_at FROM hub_processes WHERE seen_at <= $1", now - DEAD_AFTER_SECONDS
        )]
        if not ended and owner is None and time.monotonic() - self._full_sweep < FULL_SWEEP_SECONDS:
            return 0
        self._full_sweep = time.monotonic()
        n = await self._requeue(
            "lease_until < $1 OR owner = $2 OR owner = ANY($4::text[])"
            " OR owner NOT IN (SELECT owner FROM hub_processes WHERE seen_at > $3)",
            owner or "", now - DEAD_AFTER_SECONDS, [o for o, _ in ended], in_doubt_seconds=in_doubt_seconds,
        )
        if ended:
            # their rows are back in the queue; a process that only lost its connection (or was slow)
            # and beat since keeps its row, and takes its lock again before its next beat
            await self._p().execute(
                "DELETE FROM hub_processes h USING unnest($1::text[], $2::float8[]) AS g(owner, seen)"
                " WHERE h.owner = g.owner AND h.seen_at = g.seen",
                [o for o, _ in ended], [seen for _, seen in ended],
            )
        return n

    async def rate_reserve(self, channel: str, n: float, rate: float, capacity: float) -> float:
        """Take ``n`` tokens from the channel's bucket shared by every process; returns how many
        seconds to wait before sending (the bucket goes into debt rather than refusing)."""
        now = time.time()
        tokens = await self._p().fetchval(
            # typed parameters: "$4 - $2" alone is an operator on two unknowns PostgreSQL cannot choose
            "INSERT INTO rate_buckets (channel, tokens, at) VALUES ($1, $4::float8 - $2::float8, $5::float8)"
            " ON CONFLICT (channel) DO UPDATE SET"
            " tokens = least($4::float8, rate_buckets.tokens"
            " + greatest(0, $5::float8 - rate_buckets.at) * $3::float8) - $2::float8,"
            " at = greatest(rate_buckets.at, $5::float8)"
            " RETURNING tokens",
            channel, float(n), float(rate), float(capacity), now,
        )
        # a batch larger than the bucket may go once the bucket is full, then pays its debt
        debt = -tokens - max(0.0, n - capacity)
        return max(0.0, debt / rate)

    # -- routing rules (hub.store.rules) ---------------------------------------------------------
    async def _insert_rules(self, sql: str, args: Sequence[Any]) -> int | None:
        async with self._p().acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", rules.RULES_LOCK)
            version = await conn.fetchval(numbered(sql), *args)
            if version is None:
                return None
            await conn.execute(numbered(rules.PRUNE_RULES), version - rules.KEEP_VERSIONS)
            await conn.execute("SELECT pg_notify('burgerhub_rules', $1)", str(version))
            return int(version)

    # -- tips ------------------------------------------------------------------------------------
    async def add_tip(self, tip: Mapping[str, Any]) -> int:
        async with self._p().acquire() as conn, conn.transaction():
            if not await conn.fetchrow(numbered(queries.ACTION_EXISTS), tip["action_id"]):
                raise NotFound(f"action {tip['action_id']!r} not found")
            tip_id = await conn.fetchval(
                numbered(queries.ADD_TIP),
                tip["action_id"], tip["text"], tip.get("channel"), tip.get("participant_id"),
                tip.get("sender"), tip.get("photo"), tip.get("photo_type"), time.time(),
            )
            await conn.execute("SELECT pg_notify('burgerhub_tips', $1)", f"{tip['action_id']} {tip_id}")
            return int(tip_id)

    # -- participants ----------------------------------------------------------------------------
    @staticmethod
    async def _generation(conn) -> int:
        return int(await conn.fetchval("SELECT value FROM store_meta WHERE key='participants_generation'"))

    async def put_participants(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> GenerationStep:
        """Insert or replace participants; the generation moves on by one per item."""
        now = time.time()
        async with self._p().acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTICIPANTS_LOCK)
            before = await self._generation(conn)
            if items:
                await conn.execute(
                    "INSERT INTO participants (id, data, created_at, updated_at)"
                    " SELECT i, d, $3, $3 FROM unnest($1::text[], $2::text[]) AS r(i, d)"
                    " ON CONFLICT (id) DO UPDATE SET data=excluded.data, updated_at=excluded.updated_at",
                    [pid for pid, _ in items], [json.dumps(data) for _, data in items], now,
                )
            return GenerationStep(before, await self._generation(conn))

    async def participants_version(self) -> ParticipantsVersion:
        rows = await self._p().fetch(
            "SELECT key, value FROM store_meta WHERE key IN ('database_id', 'participants_generation')"
        )
        meta = dict(rows)
        return ParticipantsVersion(meta["database_id"], int(meta["participants_generation"]))

    async def participant_changes(self, since: int, *, limit: int | None = None) -> ParticipantChanges:
        """See :meth:`hub.store.sqlite.SQLiteStore.participant_changes`; here from the generation index."""
        async with self._p().acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            meta = dict(await conn.fetch("SELECT key, value FROM store_meta"))
            version = ParticipantsVersion(meta["database_id"], int(meta["participants_generation"]))
            complete = int(meta["participant_changes_since"])
            if not complete <= since <= version.generation:
                return ParticipantChanges(version, complete, None, None, None)
            most = None if limit is None else limit + 1
            texts = [r[0] for r in await conn.fetch(
                "SELECT data FROM participants WHERE generation > $1 ORDER BY generation LIMIT $2", since, most
            )]
            removed = [r[0] for r in await conn.fetch(
                "SELECT id FROM participant_tombstones WHERE generation > $1 LIMIT $2", since, most
            )]
            count = len(texts) + len(removed)
            if limit is not None and count > limit:
                return ParticipantChanges(version, complete, count, None, None)
            return ParticipantChanges(version, complete, count, texts, removed)

    async def prune_participant_tombstones(self, upto: int) -> int:
        """Record that this process's snapshot is at ``upto`` and drop the tombstones every live
        process's snapshot is past (another process may still need older ones to catch up)."""
        self._saved_generation = max(upto, self._saved_generation or 0)
        async with self._p().acquire() as conn, conn.transaction():
            if self.owner is not None:
                await conn.execute(
                    "INSERT INTO store_meta (key, value) VALUES ($1, $2)"
                    " ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                    f"snapshot:{self.owner}", str(self._saved_generation),
                )
            live = await conn.fetch(
                "SELECT m.value FROM store_meta m JOIN hub_processes p ON m.key = 'snapshot:' || p.owner"
                " WHERE p.seen_at > $1",
                time.time() - DEAD_AFTER_SECONDS,
            )
            await conn.execute(
                "DELETE FROM store_meta WHERE key LIKE 'snapshot:%'"
                " AND substr(key, 10) NOT IN (SELECT owner FROM hub_processes)"
            )
            floor = min([int(r[0]) for r in live] + [upto])
            current = int(await conn.fetchval("SELECT value FROM store_meta WHERE key='participant_changes_since'"))
            if floor <= current:
                return 0
            n = _count(await conn.execute("DELETE FROM participant_tombstones WHERE generation <= $1", floor))
            await conn.execute("UPDATE store_meta SET value=$1 WHERE key='participant_changes_since'", str(floor))
            return n

    def scan_participants(self, chunk_size: int = 20_000) -> "PostgresParticipantScan":
        return PostgresParticipantScan(self, chunk_size)

    async def erase_participant(self, participant_id: str, audit: AuditEntry) -> GenerationStep | None:
        """Delete every piece of personal data: the record, contact addresses in the ledger, tip links.
        Waits for ledger writes under way; none after it can queue this participant again."""
        async with self._p().acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", ERASURE_LOCK)
            await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTICIPANTS_LOCK)
            before = await self._generation(conn)
            data = await conn.fetchval("DELETE FROM participants WHERE id=$1 RETURNING data", participant_id)
            if data is None:
                return None
            for sql, args in erasure_statements(participant_id, json.loads(data)):
                await conn.execute(numbered(sql), *args)
            now = time.time()
            await conn.execute(CANCEL_PARTICIPANT, now, participant_id)
            ids = [r[0] for r in await conn.fetch(
                "UPDATE deliveries SET address='erased:' || id, participant_id=NULL, provider_id=NULL, updated_at=$1"
                " WHERE participant_id=$2 RETURNING id",
                now, participant_id,
            )]
            if ids:
                await conn.execute(
                    "UPDATE outbox SET address='erased', text='', html=NULL, subject=NULL"
                    " WHERE delivery_id = ANY($1::bigint[])",
                    ids,
                )
                # a provider's message id may hold the address (CM's does): its lookup goes too
                await conn.execute("DELETE FROM delivery_receipts WHERE id = ANY($1::bigint[])", ids)
            await conn.execute(
                "UPDATE tips SET participant_id=NULL, sender=NULL WHERE participant_id=$1", participant_id
            )
            await conn.execute(numbered(queries.ADD_AUDIT), *audit_args(audit))
            step = GenerationStep(before, await self._generation(conn))
        self.scrub_soon()
        return step

    #: the tables an erasure or a retention sweep deletes from or rewrites
    SCRUBBED_TABLES = ("participants", "deliveries", "delivery_receipts", "outbox", "tips", "photos")

    async def scrub(self) -> bool:
        """Prune the dead row versions an erasure or a sweep left, from the tables and their indexes
        (``VACUUM`` with index cleanup; the index on addresses holds them too). PostgreSQL does not
        zero the space it frees, and its WAL and backups are the server's: see the README."""
        await self._p().execute(f"VACUUM (INDEX_CLEANUP ON) {', '.join(self.SCRUBBED_TABLES)}")
        return True

    def scrub_soon(self) -> None:
        """Start :meth:`scrub` in the background (once more after the running one, if one runs)."""
        if self._scrubber is not None and not self._scrubber.done():
            self._scrub_again = True
            return
        self._scrubber = asyncio.create_task(self._scrub_loop(), name="burgerhub-scrub")

    async def _scrub_loop(self) -> None:
        while True:
            self._scrub_again = False
            try:
                await self.scrub()
            except Exception as e:  # autovacuum gets there later
                log.warning("vacuum after an erasure failed: %s", e)
            if not self._scrub_again or self._pool is None:
                return


class PostgresParticipantScan:
    """Every participant's stored JSON text in chunks, from one repeatable-read transaction on a
    connection of its own (see :class:`hub.store.sqlite.ParticipantScan` for the protocol)."""

    def __init__(self, store: PostgresStore, chunk_size: int):
        self.store = store
        self.chunk_size = max(1, int(chunk_size))
        self.version: ParticipantsVersion | None = None
        self._conn = None
        self._tx = None

    async def __aenter__(self) -> "PostgresParticipantScan":
        self._conn = await self.store._p().acquire()
        self._tx = self._conn.transaction(isolation="repeatable_read", readonly=True)
        await self._tx.start()
        meta = dict(await self._conn.fetch(
            "SELECT key, value FROM store_meta WHERE key IN ('database_id', 'participants_generation')"
        ))
        self.version = ParticipantsVersion(meta["database_id"], int(meta["participants_generation"]))
        return self

    async def __aexit__(self, *exc) -> None:
        try:
            if self._tx is not None:
                await self._tx.rollback()
        finally:
            if self._conn is not None:
                await self.store._p().release(self._conn)
            self._conn = self._tx = None

    async def __aiter__(self):
        cursor = await self._conn.cursor("SELECT data FROM participants")
        while True:
            rows = await cursor.fetch(self.chunk_size)
            if not rows:
                return
            yield [r[0] for r in rows]
