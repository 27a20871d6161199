"""The delivery ledger on PostgreSQL: writing actions' rows, claims, outcomes, requeues, reports.

A ledger row (``deliveries``) is written once when it is queued and changed in place as it goes
out. What claims need lives apart from it, in ``deliveries_pending``: one narrow row per ledger row
still to be sent, queued (``owner`` NULL) or leased to a hub process. No index of ``deliveries``
reads a column that a claim or an outcome changes, and its pages keep room for new row versions,
so those changes are heap-only updates: PostgreSQL writes no index entry for them. (With the claim
state in the ledger row, each of the two changes per message wrote an entry into each of the
ledger's indexes, the wide unique key among them: most of the server's work in a fan-out.)

The invariant: a ledger row is ``queued`` or ``sending`` exactly while it has a pending row, and
every change of that state first takes the pending row, which decides between racing writers:

* a claim locks due pending rows ``FOR UPDATE SKIP LOCKED`` (two claims never take the same row),
  sets their owner and lease, and marks the ledger rows ``sending`` in the same statement;
* an outcome deletes the pending row while it is still leased (to the writer, when it says so) and
  writes the ledger row; a retry gives the pending row back to the queue with its new due time;
* a cancellation (an action ended, a participant erased, a closing skipped after a failed start)
  deletes pending rows that are not leased; a requeue clears the lease of a dead process's rows;
  an action's end takes its starts in doubt out of the queue too (they count as sent);
* a provider's report that moves a row to a final status deletes its pending row (a late outcome
  then changes nothing), and a report asking to retry queues it again; a report on a start skips
  the person's queued update and closing (failed) or gives a closing held for it its due time now
  (arrived), in both cases only through pending rows that are not leased.

Provider message ids are looked up through ``delivery_receipts`` (channel, provider id -> row),
written with the outcome; a receipt counts only while the row still carries that provider id.
Neither table has a foreign key to the ledger (a check per row, in the hottest statements): whatever
deletes ledger rows deletes their pending rows and receipts with them, as erasure does for receipts.
Statements find pending rows by key (``= ANY``) or in one uncorrelated subquery, never through a join:
between fan-outs the queue is empty, and so are the statistics autovacuum takes of it, and a join
planned on them (a nested loop over a queue that meanwhile holds 100,000 rows) can run for minutes.

Schema: ``migrations/postgres/002_ledger_claims.sql``.
"""

from __future__ import annotations

import json
import time
from itertools import repeat
from typing import Any, Iterable, Mapping, Sequence

from ..errors import Conflict
from . import (
    URGENCY_RANK,
    AuditEntry,
    DeliveryColumns,
    DeliveryStatus,
    LedgerRow,
    NewRows,
    Outcome,
)
from . import queries
from .queries import audit_args, numbered

#: transaction lock key (pg_advisory_xact_lock): ledger writers (shared) vs erasure (exclusive)
ERASURE_LOCK = 7301000002


#: a statement inserting ledger rows (as ``ins``, returning the pending row's columns) becomes one
#: that queues them too; its command status counts the rows queued
_QUEUE_INSERTED = (
    "WITH ins AS ({insert} RETURNING id, channel, urgency_rank, next_at)"
    " INSERT INTO deliveries_pending (id, channel, urgency_rank, next_at)"
    " SELECT id, channel, urgency_rank, next_at FROM ins"
)
_INSERT_ROWS = _QUEUE_INSERTED.format(insert=(
    "INSERT INTO deliveries (action_id, channel, kind, seq, address, participant_id, language,"
    " urgency_rank, status, created_at, updated_at)"
    " SELECT $5, r.channel, $6, $7, r.address, r.pid, r.lang, $8, 'queued', $9, $9"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS r(channel, address, pid, lang)"
    # an erased participant is never queued again, whatever an index in memory still holds
    " WHERE r.pid IS NULL OR EXISTS (SELECT 1 FROM participants p WHERE p.id = r.pid)"
    " ON CONFLICT DO NOTHING"
))


def _follow_up(kind: str, seq: str, now: str, action: str, next_at: str = "0", reason: str = "NULL") -> str:
    """Queue a message of ``kind`` to everyone the action's start reached (SQL parameters as given;
    ``next_at`` and ``reason``: expressions of the start row)."""
    return _QUEUE_INSERTED.format(insert=(
        "INSERT INTO deliveries (action_id, channel, kind, seq, address, participant_id,"
        " language, urgency_rank, status, next_at, reason, created_at, updated_at)"
        f" SELECT action_id, channel, '{kind}', {seq}, address, participant_id, language, urgency_rank,"
        f" 'queued', {next_at}, {reason}, {now}, {now} FROM deliveries WHERE action_id={action}"
        f" AND {queries.REACHED_STARTS} ON CONFLICT DO NOTHING"
    ))


_QUEUE_UPDATES = _follow_up("update", "$1", "$2", "$3")
# a closing to someone whose start is in doubt is held until the doubt ends (hub.store.queries.SENT_IN_DOUBT)
_QUEUE_CLOSINGS = _follow_up("end", "0", "$1", "$2", queries.CLOSING_NEXT_AT, queries.CLOSING_REASON)

_CLAIM = (
    # The rows are locked by an uncorrelated subquery: PostgreSQL runs it once, before the update,
    # whatever the plan (in a join, a locking subquery with LIMIT may be run again for each row:
    # with three hubs claiming at once it was seen spinning for minutes on rows the others held)
    "WITH c AS (UPDATE deliveries_pending SET owner=$2, lease_until=$3"
    " WHERE id = ANY(ARRAY(SELECT id FROM deliveries_pending WHERE channel=$1 AND owner IS NULL AND next_at<=$4"
    " ORDER BY urgency_rank, next_at, id LIMIT $5 FOR UPDATE SKIP LOCKED)) RETURNING id)"
    # the ledger row's new version is as large as the old one, so it fits beside it on the page
    " UPDATE deliveries d SET status='sending', attempts=d.attempts+1, updated_at=$4"
    " WHERE d.id = ANY(ARRAY(SELECT id FROM c))"
    " RETURNING d.id, d.action_id, d.channel, d.kind, d.seq, d.address, d.participant_id, d.language,"
    " d.attempts, d.urgency_rank"
)

# Outcomes: $1 ids, $2 statuses, $3 reasons, $4 provider ids, $5 now, ($6 owner)
_COMPLETE = (
    # rows are found through their keys (= ANY), never by joining the queue: it may hold a fan-out
    "WITH done AS (DELETE FROM deliveries_pending p WHERE p.id = ANY($1::bigint[]) AND p.owner IS NOT NULL{mine}"
    " RETURNING p.id),"
    " o AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS o(id, status, reason, pid)),"
    " upd AS (UPDATE deliveries d SET status=o.status, reason=o.reason, provider_id=coalesce(o.pid, d.provider_id),"
    " updated_at=$5 FROM o"
    " WHERE d.id = ANY(ARRAY(SELECT id FROM done)) AND o.id=d.id RETURNING d.id, d.channel)"
    " INSERT INTO delivery_receipts (channel, provider_id, id)"
    " SELECT upd.channel, o.pid, o.id FROM upd JOIN o ON o.id=upd.id WHERE o.pid IS NOT NULL"
)
# Retries: $1 ids, $2 due times, $3 reasons, $4 now, ($5 owner)
_RETRY = (
    "WITH o AS (SELECT * FROM unnest($1::bigint[], $2::float8[], $3::text[]) AS o(id, at, reason)),"
    " back AS (UPDATE deliveries_pending p SET owner=NULL, lease_until=NULL, next_at=o.at FROM o"
    " WHERE p.id = ANY($1::bigint[]) AND p.id=o.id AND p.owner IS NOT NULL{mine} RETURNING p.id)"
    " UPDATE deliveries d SET status='queued', next_at=o.at, reason=o.reason, updated_at=$4 FROM o"
    " WHERE d.id = ANY(ARRAY(SELECT id FROM back)) AND o.id=d.id"
)


def _cancel(rows: str, status: str, reason: str, now: str) -> str:
    """Take the ledger rows ``rows`` (a query of ids) that are queued and not leased out of the queue
    and give them ``status``; the command status counts them."""
    return (
        f"WITH gone AS (DELETE FROM deliveries_pending p WHERE p.id = ANY(ARRAY({rows})) AND p.owner IS NULL"
        " RETURNING p.id)"
        f" UPDATE deliveries SET status='{status}', reason='{reason}', updated_at={now}"
        " WHERE id = ANY(ARRAY(SELECT id FROM gone))"
    )


# starts in doubt when their action ends count as sent (their provider had them) and leave the queue
_SENT_IN_DOUBT = _cancel(
    f"SELECT id FROM deliveries WHERE {queries.SENT_IN_DOUBT.replace('?', '$2')}", "sent", "in_doubt", "$1"
)
_CANCEL_ACTION = _cancel(
    "SELECT id FROM deliveries WHERE action_id=$2 AND kind IN ('start','update') AND status='queued'",
    "cancelled", "action_ended", "$1",
)
CANCEL_PARTICIPANT = _cancel(
    "SELECT id FROM deliveries WHERE participant_id=$2 AND status='queued'", "cancelled", "participant_erased", "$1"
)

#: a provider id's ledger rows (``$a`` channel, ``$b`` provider id)
_BY_RECEIPT = (
    "d.id = ANY(ARRAY(SELECT r.id FROM delivery_receipts r WHERE r.channel={a} AND r.provider_id={b}))"
    " AND d.channel={a} AND d.provider_id={b}"
)


def _follow_ups(updates: bool) -> str:
    """CTEs ``follow``: the queued closing rows (and, with ``updates``, update rows) of the people whose
    start is among the rows of ``upd`` (id, kind, action_id, channel, address). Each is found by its
    full unique key (a closing's seq is 0, an update's 2 up to the action's version): one index probe,
    where a probe without seq would read every closing or update row of the action."""
    key = "e.action_id=s.action_id AND e.channel=s.channel AND e.address=s.address"
    closings = (f"SELECT e.id FROM upd s JOIN deliveries e ON {key} AND e.kind='end' AND e.seq=0"
                " WHERE s.kind='start' AND e.status='queued'")
    if not updates:
        return f"follow AS ({closings})"
    # the update rows' probes take each seq from the lateral series (OFFSET 0: the planner may not
    # flatten them into a join that reads the action's update rows first and matches seq after)
    return (
        f"follow AS ({closings} UNION ALL SELECT e.id FROM upd s CROSS JOIN LATERAL generate_series(2,"
        " (SELECT a.version FROM actions a WHERE a.id=s.action_id)) AS v(seq)"
        f" CROSS JOIN LATERAL (SELECT e.id FROM deliveries e WHERE {key}"
        " AND e.kind='update' AND e.seq=v.seq AND e.status='queued' OFFSET 0) e WHERE s.kind='start')"
    )


def _skip_follow_ups(now: str) -> str:
    """CTEs: someone whose start never arrived gets no update or closing (``follow``, those not leased)."""
    return (
        "skip AS (DELETE FROM deliveries_pending p WHERE p.id = ANY(ARRAY(SELECT id FROM follow)) AND p.owner IS NULL"
        " RETURNING p.id),"
        " skipped AS (UPDATE deliveries SET status='skipped', reason='start_not_delivered', updated_at={now}"
        " WHERE id = ANY(ARRAY(SELECT id FROM skip)))"
    ).format(now=now)


# someone whose start never arrived must not get an update or a closing out of the blue ($1 now, $2 starts)
_SKIP_AFTER_FAILED_START = (
    "WITH upd AS (SELECT id, kind, action_id, channel, address FROM deliveries WHERE id = ANY($2::bigint[])),"
    f" {_follow_ups(True)}, {_skip_follow_ups('$1')} SELECT count(*) FROM skip"
)


def _report(where: str, then: str, answer: str = "SELECT count(*) FROM upd") -> str:
    """A provider's report applied to the ledger rows ``where`` names ($1 status, $2 reason, $3 now;
    ``where`` uses $4 on): their new status, their pending rows gone (a late outcome then changes
    nothing), then ``then``: CTEs on what :func:`_follow_ups` finds for them. ``answer`` starts with
    how many rows the report changed."""
    return (
        "WITH upd AS (UPDATE deliveries d SET status=$1, reason=$2, updated_at=$3"
        f" WHERE {where} RETURNING d.id, d.kind, d.action_id, d.channel, d.address),"
        " gone AS (DELETE FROM deliveries_pending WHERE id = ANY(ARRAY(SELECT id FROM upd))),"
        f" {then} {answer}"
    )


_SETTLES = queries.SETTLES.format(earlier="d.status = ANY($6::text[])")
_THEN_SKIP = f"{_follow_ups(True)}, {_skip_follow_ups('$3')}"


def _then_release(now: str) -> str:
    """CTEs: a closing held while its start was in doubt goes out now, and every process hears of it."""
    return (
        f"{_follow_ups(False)},"
        " held AS (SELECT id FROM deliveries WHERE id = ANY(ARRAY(SELECT id FROM follow))"
        f" AND {queries.HELD_CLOSINGS}),"
        " rel AS (UPDATE deliveries_pending p SET next_at={now} WHERE p.id = ANY(ARRAY(SELECT id FROM held))"
        " AND p.owner IS NULL RETURNING p.id, p.channel),"
        " released AS (UPDATE deliveries SET next_at={now}, reason=NULL, updated_at={now}"
        " WHERE id = ANY(ARRAY(SELECT id FROM rel))),"
        " woken AS (SELECT pg_notify('burgerhub_ledger', c.channel) FROM (SELECT DISTINCT channel FROM rel) c)"
    ).format(now=now)


# A report's CTEs read the ledger as it was when the report began. An action's end that commits
# while the report waits for a start's row (the end takes it first) queues that person's closing
# unseen by them: the report answers those starts (the failed ones; those in doubt when it began,
# whose closing may be held), and a second statement, which sees the end, skips or releases it.
_STARTS = "ARRAY(SELECT u.id FROM upd u WHERE u.kind='start')"
_STARTS_IN_DOUBT = (
    "ARRAY(SELECT u.id FROM upd u JOIN deliveries o ON o.id=u.id WHERE u.kind='start' AND o.reason='in_doubt')"
)
_REPORT_ARRIVED = _report(f"{_BY_RECEIPT.format(a='$4', b='$5')} AND {_SETTLES}", _then_release("$3"),
                          f"SELECT (SELECT count(*) FROM upd), {_STARTS_IN_DOUBT}, (SELECT count(*) FROM woken)")
_REPORT_FAILED = _report(f"{_BY_RECEIPT.format(a='$4', b='$5')} AND {_SETTLES}", _THEN_SKIP,
                         f"SELECT (SELECT count(*) FROM upd), {_STARTS}")
# the second statement: $1 now, $2 the starts
_RELEASE_AFTER_START = (
    "WITH upd AS (SELECT id, kind, action_id, channel, address FROM deliveries WHERE id = ANY($2::bigint[])),"
    f" {_then_release('$1')} SELECT count(*) FROM woken"
)
# a start or update a provider asks to retry after its action ended: failed, not sent again
_REPORT_ENDED = _report(f"{_BY_RECEIPT.format(a='$4', b='$5')} AND {queries.ENDED_FOLLOWS}", _THEN_SKIP)

#: pending rows for a ledger's rows still to be sent, and receipts for the provider ids it holds: what
#: ``burgerhub db copy`` runs after copying a ledger in (the same as migration 002 for an existing one)
FILL_CLAIM_TABLES = (
    "INSERT INTO deliveries_pending (id, channel, urgency_rank, next_at, owner, lease_until)"
    " SELECT id, channel, urgency_rank, next_at, owner, lease_until FROM deliveries"
    " WHERE status = 'sending' AND owner IS NOT NULL",
    "INSERT INTO deliveries_pending (id, channel, urgency_rank, next_at)"
    " SELECT id, channel, urgency_rank, next_at FROM deliveries"
    " WHERE status = 'queued' OR (status = 'sending' AND owner IS NULL)",
    "UPDATE deliveries SET status = 'queued' WHERE status = 'sending' AND owner IS NULL",
    "UPDATE deliveries SET owner = NULL, lease_until = NULL WHERE owner IS NOT NULL OR lease_until IS NOT NULL",
    "INSERT INTO delivery_receipts (channel, provider_id, id)"
    " SELECT channel, provider_id, id FROM deliveries WHERE provider_id IS NOT NULL",
)


def count(status: str) -> int:
    """The row count of an asyncpg command status (``UPDATE 3``, ``INSERT 0 5``)."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except (ValueError, IndexError):
        return 0


def _columns(rows: NewRows) -> tuple[list[str], list[str], list[str | None], list[str]]:
    channels: list[str] = []
    addresses: list[str] = []
    pids: list[str | None] = []
    langs: list[str] = []
    for r in rows:
        if isinstance(r, DeliveryColumns):
            channels.extend(repeat(r.channel, len(r)))
            addresses.extend(r.addresses)
            pids.extend(r.participant_ids)
            langs.extend(r.languages)
        else:
            channels.append(r.channel)
            addresses.append(r.address)
            pids.append(r.participant_id)
            langs.append(r.language)
    return channels, addresses, pids, langs


class PostgresLedger:
    """The ledger's writes and queue reads of :class:`hub.store.postgres.PostgresStore`."""

    def _p(self):
        raise NotImplementedError

    async def _insert_rows(self, conn, action_id: str, kind: str, seq: int, rank: int, rows: NewRows) -> int:
        channels, addresses, pids, langs = _columns(rows)
        if not channels:
            return 0
        n = count(await conn.execute(
            _INSERT_ROWS, channels, addresses, pids, langs, action_id, kind, seq, rank, time.time()
        ))
        await self._notify_ledger(conn, set(channels))
        return n

    @staticmethod
    async def _notify_ledger(conn, channels: Iterable[str]) -> None:
        """Wake every process for ``channels`` (``conn``: a connection in a transaction, or the pool)."""
        if wanted := sorted(set(channels)):
            await conn.execute("SELECT pg_notify('burgerhub_ledger', c) FROM unnest($1::text[]) AS c", wanted)

    async def create_action(self, action: Mapping[str, Any], rows: NewRows, audit: AuditEntry) -> int:
        import asyncpg

        rank = URGENCY_RANK[action["urgency"]]
        async with self._p().acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", ERASURE_LOCK)
            now = time.time()
            try:
                await conn.execute(
                    "INSERT INTO actions (id, status, urgency, version, data, created_at, updated_at)"
                    " VALUES ($1,$2,$3,$4,$5,$6,$6)",
                    action["id"], action["status"], action["urgency"], action["version"], json.dumps(action), now,
                )
            except asyncpg.UniqueViolationError as e:
                raise Conflict(f"action {action['id']!r} already exists") from e
            n = await self._insert_rows(conn, action["id"], "start", 0, rank, rows)
            await conn.execute(numbered(queries.ADD_AUDIT), *audit_args(audit))
            return n

    async def update_action(
        self, action: Mapping[str, Any], rows: NewRows, audit: AuditEntry, *, notify_reached: bool
    ) -> tuple[int, int]:
        rank = URGENCY_RANK[action["urgency"]]
        async with self._p().acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", ERASURE_LOCK)
            status = await conn.execute(
                "UPDATE actions SET data=$1, version=$2, updated_at=$3 WHERE id=$4 AND status='active' AND version=$5",
                json.dumps(action), action["version"], time.time(), action["id"], action["version"] - 1,
            )
            if count(status) != 1:
                raise Conflict(f"action {action['id']!r} is not active or was changed concurrently")
            updates = 0
            if notify_reached:
                updates = count(await conn.execute(_QUEUE_UPDATES, action["version"], time.time(), action["id"]))
                if updates:
                    await self._notify_ledger(conn, await self._action_channels(conn, action["id"]))
            starts = await self._insert_rows(conn, action["id"], "start", 0, rank, rows)
            await conn.execute(numbered(queries.ADD_AUDIT), *audit_args(audit))
            return starts, updates

    @staticmethod
    async def _action_channels(conn, action_id: str) -> set[str]:
        rows = await conn.fetch("SELECT DISTINCT channel FROM deliveries WHERE action_id=$1 AND status='queued'", action_id)
        return {r[0] for r in rows}

    async def end_action(self, action: Mapping[str, Any], audit: AuditEntry) -> int:
        async with self._p().acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", ERASURE_LOCK)
            now = time.time()
            status = await conn.execute(
                "UPDATE actions SET status='ended', data=$1, version=$2, updated_at=$3 WHERE id=$4 AND status='active'",
                json.dumps(action), action["version"], now, action["id"],
            )
            if count(status) != 1:
                raise Conflict(f"action {action['id']!r} is not active")
            await conn.execute(_SENT_IN_DOUBT, now, action["id"])
            await conn.execute(_CANCEL_ACTION, now, action["id"])
            ended = count(await conn.execute(_QUEUE_CLOSINGS, now, action["id"]))
            if ended:
                await self._notify_ledger(conn, await self._action_channels(conn, action["id"]))
            await conn.execute(numbered(queries.ADD_AUDIT), *audit_args(audit))
            return ended

    # -- claims and outcomes ---------------------------------------------------------------------
    async def claim(self, channel: str, limit: int, *, owner: str, lease_seconds: float) -> list[LedgerRow]:
        """Take up to ``limit`` due rows, urgent first, and lease them to ``owner``; rows another
        process is claiming at the same moment are skipped, never taken twice."""
        now = time.time()
        rows = await self._p().fetch(_CLAIM, channel, owner, now + lease_seconds, now, limit)
        out = [LedgerRow._make(tuple(r)[:9]) for r in rows]
        ranks = {r[0]: r[9] for r in rows}
        out.sort(key=lambda r: (ranks[r.id], r.id))
        return out

    async def complete(self, outcomes: Sequence[Outcome], *, owner: str | None = None) -> None:
        """Write what became of claimed rows, only while they are still leased (to ``owner``, when
        given). The usual case (every outcome final, none failed) is one statement."""
        if not outcomes:
            return
        final = [o for o in outcomes if o.retry_at is None]
        retry = [o for o in outcomes if o.retry_at is not None]
        failed = [o.id for o in final if o.status == DeliveryStatus.FAILED]
        extra = (owner,) if owner is not None else ()
        now = time.time()
        statements = []
        if final:
            statements.append((
                _COMPLETE.format(mine=" AND p.owner=$6" if owner is not None else ""),
                ([o.id for o in final], [o.status for o in final], [o.reason for o in final],
                 [o.provider_id for o in final], now, *extra),
            ))
        if retry:
            statements.append((
                _RETRY.format(mine=" AND p.owner=$5" if owner is not None else ""),
                ([o.id for o in retry], [float(o.retry_at) for o in retry], [o.reason for o in retry], now, *extra),
            ))
        if failed:
            statements.append((_SKIP_AFTER_FAILED_START, (now, failed)))
        if len(statements) == 1:
            sql, args = statements[0]
            await self._p().execute(sql, *args)
            return
        async with self._p().acquire() as conn, conn.transaction():
            for sql, args in statements:
                await conn.execute(sql, *args)

    async def hand_over(self, provider_ids: Mapping[int, str]) -> None:
        """See :meth:`hub.store.sqlite.SQLiteStore.hand_over`: the ids a provider's later reports
        will carry, noted (reason ``handed_over``, and a receipt to find them by) before the request
        goes out. One statement over two arrays."""
        if not provider_ids:
            return
        await self._p().execute(
            "WITH u AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS u(id, pid)),"
            " upd AS (UPDATE deliveries d SET provider_id=u.pid, reason='handed_over' FROM u"
            " WHERE d.id = ANY($1::bigint[]) AND d.id=u.id AND d.status='sending' RETURNING d.id, d.channel)"
            " INSERT INTO delivery_receipts (channel, provider_id, id)"
            " SELECT upd.channel, u.pid, u.id FROM upd JOIN u ON u.id=upd.id",
            list(provider_ids), list(provider_ids.values()),
        )

    async def _requeue(self, condition: str, *args: Any, in_doubt_seconds: float = 0.0) -> int:
        """Give the rows in flight whose pending row meets ``condition`` ($1 is now) back to the queue,
        and wake every process for their channels. Rows handed to a provider that reports on them
        later (:meth:`hand_over`) wait ``in_doubt_seconds`` for that report before they are sent again."""
        now = time.time()
        until = f"${len(args) + 2}"
        rows = await self._p().fetch(
            # rows in doubt wait in the queue too (one statement may change a row only once)
            "WITH back AS (UPDATE deliveries_pending q SET owner=NULL, lease_until=NULL, next_at=CASE WHEN EXISTS"
            f" (SELECT 1 FROM deliveries x WHERE x.id=q.id AND x.reason='handed_over') THEN {until} ELSE q.next_at END"
            f" WHERE owner IS NOT NULL AND ({condition}) RETURNING id, channel),"
            f" d AS (UPDATE deliveries SET status='queued', updated_at=$1, {queries.IN_DOUBT.replace('?', until)}"
            " WHERE id = ANY(ARRAY(SELECT id FROM back)))"
            " SELECT channel, count(*) FROM back GROUP BY channel",
            now, *args, now + in_doubt_seconds,
        )
        await self._notify_ledger(self._p(), [channel for channel, _ in rows])
        return sum(r[1] for r in rows)

    async def apply_provider_status(
        self, channel: str, provider_id: str, status: str, reason: str | None, *, retry_at: float | None
    ) -> int:
        """See :meth:`hub.store.sqlite.SQLiteStore.apply_provider_status`; the usual report is one statement."""
        now = time.time()
        if retry_at is not None:
            async with self._p().acquire() as conn, conn.transaction():
                ended = await conn.fetchval(
                    _REPORT_ENDED, DeliveryStatus.FAILED, reason, now, channel, provider_id
                )
                return int(ended) + count(await conn.execute(
                    _QUEUE_INSERTED.format(insert=(
                        "UPDATE deliveries d SET status='queued', next_at=$1, reason=$2, updated_at=$3"
                        f" WHERE {_BY_RECEIPT.format(a='$4', b='$5')} AND d.status IN ('sent','delivered')"
                    )) + " ON CONFLICT (id) DO NOTHING",
                    retry_at, reason, now, channel, provider_id,
                ))
        earlier = queries.EARLIER_STATUSES.get(status, ())
        if not earlier:
            return 0
        failed = status == DeliveryStatus.FAILED
        row = await self._p().fetchrow(
            _REPORT_FAILED if failed else _REPORT_ARRIVED, status, reason, now, channel, provider_id, list(earlier)
        )
        n, starts = row[0], row[1]
        if starts:
            # an end committed meanwhile may have queued closings the report could not see
            await self._p().execute(_SKIP_AFTER_FAILED_START if failed else _RELEASE_AFTER_START, time.time(), starts)
        return int(n)

    # -- the queue, read -------------------------------------------------------------------------
    async def next_due(self, channel: str) -> float | None:
        return await self._p().fetchval(
            "SELECT min(next_at) FROM deliveries_pending WHERE channel=$1 AND owner IS NULL", channel
        )

    async def busy_channels(self) -> set[str]:
        """Channels with rows in flight or queued (retries not yet due included)."""
        return {r[0] for r in await self._p().fetch("SELECT DISTINCT channel FROM deliveries_pending")}

    async def pending_channels(self) -> set[str]:
        return {r[0] for r in await self._p().fetch(
            "SELECT DISTINCT channel FROM deliveries_pending WHERE owner IS NULL"
        )}
