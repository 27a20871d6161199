"""The SQL both backends share, and the store operations built on nothing else.

Statements are written once, with ``?`` placeholders, in the dialect SQLite and PostgreSQL have in
common; :func:`numbered` turns them into PostgreSQL's ``$1, $2, ...``. :class:`SharedQueries` implements
every store operation that is one such statement (reads of actions and the ledger, tips, audit, channel
records, the sandbox outbox, photos) on three primitives each backend provides: ``_all`` (rows of a
read), ``_one`` (first row or ``None``) and ``_run`` (a write in a transaction of its own, returning
the affected row count).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Mapping, Sequence

from ..errors import NotFound
from . import AuditEntry

_MARK = re.compile(r"\?")


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (the shared statements hold no ``?`` in strings)."""
    counter = iter(range(1, 1000))
    return _MARK.sub(lambda _: f"${next(counter)}", sql)


GET_ACTION = "SELECT data FROM actions WHERE id=?"
LIST_ACTIONS = "SELECT data FROM actions ORDER BY created_at DESC LIMIT ?"
LIST_ACTIONS_BY_STATUS = "SELECT data FROM actions WHERE status=? ORDER BY created_at DESC LIMIT ?"
ENDED_SINCE = "SELECT data FROM actions WHERE status='ended' AND updated_at>=? ORDER BY updated_at DESC LIMIT ?"
ACTION_COUNTS = (
    "SELECT channel, kind, status, reason, count(*) FROM deliveries WHERE action_id=?"
    " GROUP BY channel, kind, status, reason"
)
REACHED_ADDRESSES = "SELECT channel, address FROM deliveries WHERE action_id=? AND kind='start'"
DELIVERY_RECIPIENTS = (
    "SELECT channel, address, participant_id FROM deliveries WHERE action_id=? AND kind=?"
    " AND status IN ('sending','sent','delivered') ORDER BY id"
)
LEDGER_ROWS = (
    "SELECT id, channel, kind, seq, address, participant_id, status, attempts, reason, provider_id"
    " FROM deliveries WHERE action_id=? AND id>? ORDER BY id"
)
NEXT_DUE = "SELECT min(next_at) FROM deliveries WHERE channel=? AND status='queued'"
# one query per status, so each is answered from its small partial index
BUSY_CHANNELS = (
    "SELECT channel FROM deliveries WHERE status='queued' UNION SELECT channel FROM deliveries WHERE status='sending'"
)
PENDING_CHANNELS = "SELECT DISTINCT channel FROM deliveries WHERE status='queued'"
LATEST_ACTION_FOR = (
    "SELECT d.action_id FROM deliveries d JOIN actions a ON a.id=d.action_id"
    " WHERE d.channel=? AND d.address=? AND d.kind='start'"
    " ORDER BY a.status='active' DESC, d.id DESC LIMIT 1"
)
PARTICIPANT_FOR = (
    "SELECT participant_id FROM deliveries WHERE channel=? AND address=? AND kind='start'"
    " AND participant_id IS NOT NULL ORDER BY id DESC LIMIT 1"
)
# Rows handed to a provider that reports on them later (the engine marks them with reason
# 'handed_over' before the request: ``hand_over``) are in doubt after a crash: requeued, they wait
# until ? (the one placeholder) for a report that settles them before they are sent again.
IN_DOUBT = (
    "next_at = CASE WHEN reason='handed_over' THEN ? ELSE next_at END,"
    " reason = CASE WHEN reason='handed_over' THEN 'in_doubt' ELSE reason END"
)

#: the statuses a provider's report may move a delivery out of, per reported status (a report never
#: moves a row back: a late "sent" after "delivered" changes nothing)
EARLIER_STATUSES: dict[str, tuple[str, ...]] = {
    "sent": ("queued", "sending"),
    "delivered": ("queued", "sending", "sent"),
    "failed": ("queued", "sending", "sent"),
}

# A closing or update message goes to whoever got the start, unless they were erased since.
REACHED_STARTS = "kind='start' AND status IN ('sending','sent','delivered') AND address NOT LIKE 'erased:%'"

# Ending an action while starts are in doubt (:data:`IN_DOUBT`): the provider had them, so they are
# not cancelled (nor sent again after the end) but count as sent, still marked 'in_doubt' (a report
# refines them: see :data:`SETTLES`). ? is the action.
SENT_IN_DOUBT = "action_id=? AND kind='start' AND status='queued' AND reason='in_doubt'"
# The closing to someone whose start is in doubt is held ('start_in_doubt') until the doubt ends
# (the start's due time): a report of the start that it arrived releases it at once, one that it
# failed skips it, and without a report it goes out then (the provider had the start).
CLOSING_NEXT_AT = "CASE WHEN reason='in_doubt' THEN next_at ELSE 0 END"
CLOSING_REASON = "CASE WHEN reason='in_doubt' THEN 'start_in_doubt' ELSE NULL END"
HELD_CLOSINGS = "kind='end' AND status='queued' AND reason='start_in_doubt'"
# A report of a row: a status it may move the row from (:data:`EARLIER_STATUSES`), or a start that
# counts as sent in doubt, which a report of "sent" confirms ({earlier}: the test of the former).
SETTLES = "({earlier} OR (status='sent' AND reason='in_doubt'))"
# A start or update that a provider asks to retry after its action ended is not sent again: the
# report is its failure. The row is one of those a report names.
ENDED_FOLLOWS = (
    "kind IN ('start','update') AND status IN ('sent','delivered')"
    " AND EXISTS (SELECT 1 FROM actions a WHERE a.id=action_id AND a.status='ended')"
)

GET_PARTICIPANT = "SELECT data FROM participants WHERE id=?"
ALL_PARTICIPANTS = "SELECT data FROM participants ORDER BY created_at, id"
COUNT_PARTICIPANTS = "SELECT count(*) FROM participants"
SET_TOKEN = "UPDATE participants SET token_hash=? WHERE id=?"
PARTICIPANT_BY_TOKEN = "SELECT id FROM participants WHERE token_hash=?"

ACTION_EXISTS = "SELECT 1 FROM actions WHERE id=?"
ADD_TIP = (
    "INSERT INTO tips (action_id, text, channel, participant_id, sender, photo, photo_type, created_at)"
    " VALUES (?,?,?,?,?,?,?,?) RETURNING id"
)
LIST_TIPS = (
    "SELECT id, action_id, text, channel, participant_id, sender, photo IS NOT NULL AS has_photo,"
    " photo_type, created_at FROM tips WHERE action_id=? AND id>? ORDER BY id DESC"
)
TIP_PHOTO = "SELECT photo, photo_type FROM tips WHERE action_id=? AND id=? AND photo IS NOT NULL"

ADD_AUDIT = "INSERT INTO audit (at, actor, role, verb, subject, detail) VALUES (?,?,?,?,?,?)"
LIST_AUDIT = "SELECT id, at, actor, role, verb, subject, detail FROM audit ORDER BY id DESC LIMIT ?"
LIST_AUDIT_SUBJECT = "SELECT id, at, actor, role, verb, subject, detail FROM audit WHERE subject=? ORDER BY id DESC LIMIT ?"

RECORD_GET = "SELECT value FROM records WHERE channel=? AND key=?"
RECORD_PUT = (
    "INSERT INTO records (channel, key, value) VALUES (?,?,?)"
    " ON CONFLICT (channel, key) DO UPDATE SET value=excluded.value"
)
RECORD_DELETE = "DELETE FROM records WHERE channel=? AND key=?"
RECORD_SCAN = "SELECT key, value FROM records WHERE channel=? AND substr(key, 1, ?)=? ORDER BY key"

OUTBOX_ADD = (
    "INSERT INTO outbox (delivery_id, channel, action_id, kind, address, language, subject, text, html,"
    " extra, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)
OUTBOX_COLUMNS = (
    "SELECT id, delivery_id, channel, action_id, kind, address, language, subject, text, html, extra,"
    " created_at FROM outbox"
)
OUTBOX_KEYS = ("id", "delivery_id", "channel", "action_id", "kind", "address", "language", "subject", "text",
               "html", "extra", "created_at")

PHOTO_PUT = (
    "INSERT INTO photos (name, content_type, body, created_at) VALUES (?,?,?,?)"
    " ON CONFLICT (name) DO NOTHING"
)
PHOTO_GET = "SELECT body, content_type FROM photos WHERE name=?"
#: the actions that name a photo (its name is hex digits and an extension: nothing LIKE reads as a pattern)
PHOTO_ACTIONS = "SELECT status, updated_at FROM actions WHERE data LIKE '%/v1/photos/' || ? || '%'"

TIP_KEYS = ("id", "action_id", "text", "channel", "participant_id", "sender", "has_photo", "photo_type", "created_at")
LEDGER_KEYS = ("id", "channel", "kind", "seq", "address", "participant_id", "status", "attempts", "reason", "provider_id")


def audit_args(entry: AuditEntry) -> tuple:
    return (time.time(), entry.actor, entry.role, entry.verb, entry.subject, json.dumps(entry.detail, default=str))


class SharedQueries:
    """Store operations that are one shared statement each (see the module's docstring)."""

    async def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        raise NotImplementedError

    async def _one(self, sql: str, args: Sequence[Any] = ()) -> tuple | None:
        rows = await self._all(sql, args)
        return rows[0] if rows else None

    async def _run(self, sql: str, args: Sequence[Any] = ()) -> int:
        raise NotImplementedError

    async def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    # -- actions and the ledger, read ------------------------------------------------------------
    async def get_action(self, action_id: str) -> dict[str, Any] | None:
        row = await self._one(GET_ACTION, (action_id,))
        return json.loads(row[0]) if row else None

    async def list_actions(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        if status:
            rows = await self._all(LIST_ACTIONS_BY_STATUS, (status, limit))
        else:
            rows = await self._all(LIST_ACTIONS, (limit,))
        return [json.loads(r[0]) for r in rows]

    async def current_actions(self, ended_since: float, *, limit: int = 100) -> list[dict[str, Any]]:
        """The running actions (newest first), then those that ended at or after ``ended_since`` (the
        latest ended first); at most ``limit`` of each."""
        running = await self._all(LIST_ACTIONS_BY_STATUS, ("active", limit))
        ended = await self._all(ENDED_SINCE, (ended_since, limit))
        return [json.loads(r[0]) for r in running + ended]

    async def action_counts(self, action_id: str) -> dict[str, Any]:
        """``{channel: {kind: {status: n}}}`` plus failure and skip reasons."""
        out: dict[str, Any] = {}
        for channel, kind, status, reason, n in await self._all(ACTION_COUNTS, (action_id,)):
            k = out.setdefault(channel, {}).setdefault(kind, {"targeted": 0, "reasons": {}})
            k["targeted"] += n
            k[status] = k.get(status, 0) + n
            if reason and status in ("failed", "cancelled", "skipped"):
                k["reasons"][reason] = k["reasons"].get(reason, 0) + n
        return out

    async def reached_addresses(self, action_id: str) -> dict[str, set[str]]:
        """Per channel, every address that has a start row (queued or further) for this action."""
        out: dict[str, set[str]] = {}
        for channel, address in await self._all(REACHED_ADDRESSES, (action_id,)):
            out.setdefault(channel, set()).add(address)
        return out

    async def delivery_recipients(self, action_id: str, kind: str = "start") -> list[tuple[str, str, str | None]]:
        return [tuple(r) for r in await self._all(DELIVERY_RECIPIENTS, (action_id, kind))]

    async def ledger_rows(self, action_id: str, *, after: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """The action's ledger rows in id order: those after id ``after``, at most ``limit`` (all: ``None``)."""
        sql, args = LEDGER_ROWS, (action_id, after)
        if limit is not None:
            sql, args = sql + " LIMIT ?", (*args, limit)
        return [dict(zip(LEDGER_KEYS, r)) for r in await self._all(sql, args)]

    async def next_due(self, channel: str) -> float | None:
        row = await self._one(NEXT_DUE, (channel,))
        return row[0] if row else None

    async def busy_channels(self) -> set[str]:
        """Channels with rows in flight or queued (retries not yet due included)."""
        return {r[0] for r in await self._all(BUSY_CHANNELS)}

    async def pending_channels(self) -> set[str]:
        return {r[0] for r in await self._all(PENDING_CHANNELS)}

    async def latest_action_for(self, channel: str, address: str) -> str | None:
        row = await self._one(LATEST_ACTION_FOR, (channel, address))
        return row[0] if row else None

    async def participant_for(self, channel: str, address: str) -> str | None:
        """The participant this channel last reached at ``address`` (from the ledger), if any."""
        row = await self._one(PARTICIPANT_FOR, (channel, address))
        return row[0] if row else None

    # -- participants, read ----------------------------------------------------------------------
    async def get_participant(self, participant_id: str) -> dict[str, Any] | None:
        row = await self._one(GET_PARTICIPANT, (participant_id,))
        return json.loads(row[0]) if row else None

    async def iter_participants(self) -> list[dict[str, Any]]:
        """Every participant at once (small stores, exports); the index streams with ``scan_participants``."""
        return [json.loads(r[0]) for r in await self._all(ALL_PARTICIPANTS)]

    async def count_participants(self) -> int:
        row = await self._one(COUNT_PARTICIPANTS)
        return int(row[0]) if row else 0

    async def set_participant_token(self, participant_id: str, token_hash: str) -> None:
        if await self._run(SET_TOKEN, (token_hash, participant_id)) != 1:
            raise NotFound(f"participant {participant_id!r} not found")

    async def participant_by_token(self, token_hash: str) -> str | None:
        row = await self._one(PARTICIPANT_BY_TOKEN, (token_hash,))
        return row[0] if row else None

    # -- tips ------------------------------------------------------------------------------------
    async def list_tips(self, action_id: str, *, after: int = 0) -> list[dict[str, Any]]:
        out = []
        for r in await self._all(LIST_TIPS, (action_id, after)):
            tip = dict(zip(TIP_KEYS, r))
            tip["has_photo"] = bool(tip["has_photo"])
            out.append(tip)
        return out

    async def tip_photo(self, action_id: str, tip_id: int) -> tuple[bytes, str] | None:
        row = await self._one(TIP_PHOTO, (action_id, tip_id))
        return (bytes(row[0]), row[1]) if row else None

    # -- audit -----------------------------------------------------------------------------------
    async def add_audit(self, entry: AuditEntry) -> None:
        await self._run(ADD_AUDIT, audit_args(entry))

    async def list_audit(self, *, subject: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        if subject:
            rows = await self._all(LIST_AUDIT_SUBJECT, (subject, limit))
        else:
            rows = await self._all(LIST_AUDIT, (limit,))
        return [
            {"id": i, "at": at, "actor": a, "role": r, "verb": v, "subject": s, "detail": json.loads(d)}
            for i, at, a, r, v, s, d in rows
        ]

    # -- channel records -------------------------------------------------------------------------
    async def record_get(self, channel: str, key: str) -> dict[str, Any] | None:
        row = await self._one(RECORD_GET, (channel, key))
        return json.loads(row[0]) if row else None

    async def record_put(self, channel: str, key: str, value: Mapping[str, Any]) -> None:
        await self._run(RECORD_PUT, (channel, key, json.dumps(value)))

    async def record_delete(self, channel: str, key: str) -> bool:
        return await self._run(RECORD_DELETE, (channel, key)) == 1

    async def record_scan(self, channel: str, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        rows = await self._all(RECORD_SCAN, (channel, len(prefix), prefix))
        return [(k, json.loads(v)) for k, v in rows]

    # -- sandbox outbox --------------------------------------------------------------------------
    async def outbox_add(self, rows: Sequence[Mapping[str, Any]]) -> None:
        now = time.time()
        await self._run_many(
            OUTBOX_ADD,
            [
                (
                    r["delivery_id"], r["channel"], r["action_id"], r["kind"], r["address"], r["language"],
                    r.get("subject"), r["text"], r.get("html"), json.dumps(r.get("extra", {}), default=str), now,
                )
                for r in rows
            ],
        )

    async def outbox_list(
        self, *, channel: str | None = None, action_id: str | None = None, limit: int = 100,
        personal: bool = False,
    ) -> list[dict[str, Any]]:
        """Sandboxed messages, newest first; ``personal``: only the codes and links that prove contacts
        (they belong to no action)."""
        where, args = [], []
        if channel:
            where.append("channel=?")
            args.append(channel)
        if action_id:
            where.append("action_id=?")
            args.append(action_id)
        if personal:
            where.append("action_id=''")
        q = OUTBOX_COLUMNS + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
        out = []
        for r in await self._all(q, (*args, limit)):
            d = dict(zip(OUTBOX_KEYS, r))
            d["extra"] = json.loads(d["extra"])
            d["sandbox"] = True
            out.append(d)
        return out

    # -- photos ----------------------------------------------------------------------------------
    async def photo_put(self, name: str, content_type: str, body: bytes) -> None:
        """Keep an uploaded photo under its (content-derived) name; every hub serves it."""
        await self._run(PHOTO_PUT, (name, content_type, body, time.time()))

    async def photo_get(self, name: str) -> tuple[bytes, str] | None:
        row = await self._one(PHOTO_GET, (name,))
        return (bytes(row[0]), row[1]) if row else None

    async def photo_actions(self, name: str) -> list[tuple[str, float]]:
        """(status, updated_at) of every action whose photos name the photo ``name``; an ended action's
        ``updated_at`` is when it ended."""
        return [(r[0], float(r[1])) for r in await self._all(PHOTO_ACTIONS, (name,))]
