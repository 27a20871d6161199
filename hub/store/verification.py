"""Store operations for proving contacts, signing in, and rate limits (:mod:`hub.verification`).

One mixin for both backends, on the shared primitives of :mod:`hub.store.queries` (``_all``, ``_one``,
``_run``) plus :meth:`VerificationQueries._write_rows`, a write that returns rows (``RETURNING``),
which is what makes a code or link single-use and an attempt counted before it is checked, however
many requests race. The tables are created by the migrations ``003_verification.sql``.

What the tables hold is personal data for a short while only: a pending proof names the number or
address being proven (deleted once used, replaced or expired, and with its participant when they are
erased); rate counters and sessions hold only HMACs and hashes.
"""

from __future__ import annotations

import json
import time
from typing import Any, Mapping, Sequence

from .queries import numbered

PERSONAL_KINDS = ("verify_phone", "verify_email", "signup", "signin")
"""The ``kind`` of sandbox outbox rows holding personal messages (codes, links) rather than alerts."""

_PUT = (
    "INSERT INTO verifications (id, purpose, participant_id, target, secret_hash, data, attempts, created_at,"
    " expires_at) VALUES (?,?,?,?,?,?,0,?,?) ON CONFLICT (id) DO UPDATE SET purpose=excluded.purpose,"
    " participant_id=excluded.participant_id, target=excluded.target, secret_hash=excluded.secret_hash,"
    " data=excluded.data, attempts=0, created_at=excluded.created_at, expires_at=excluded.expires_at"
)
_TAKE = (
    "DELETE FROM verifications WHERE id=? AND secret_hash=? AND expires_at>?"
    " RETURNING purpose, participant_id, target, data"
)
_ATTEMPT = (
    "UPDATE verifications SET attempts=attempts+1 WHERE id=? AND expires_at>? AND attempts<?"
    " RETURNING secret_hash, attempts"
)
_EXPIRED = "DELETE FROM verifications WHERE expires_at<=?"
_RATE_COUNT = "SELECT count(*), min(at) FROM rate_hits WHERE key=? AND at>?"
_RATE_ADD = "INSERT INTO rate_hits (key, at) VALUES (?,?)"
_RATE_PRUNE = "DELETE FROM rate_hits WHERE at<?"
_SPEND = "INSERT INTO spent_once (key, until) VALUES (?,?) ON CONFLICT (key) DO NOTHING"
_SPENT_PRUNE = "DELETE FROM spent_once WHERE until<?"
#: a spent key is kept this long past its ``until``: another hub whose clock lags behind this one's
#: still takes what the key guards (a ticket) as valid for a moment after this hub sees it expired
SPENT_KEEP_SECONDS = 300.0
_SESSION_PUT = "INSERT INTO participant_sessions (token_hash, participant_id, created_at, expires_at) VALUES (?,?,?,?)"
_SESSION_GET = "SELECT participant_id FROM participant_sessions WHERE token_hash=? AND expires_at>?"
_SESSION_DELETE = "DELETE FROM participant_sessions WHERE token_hash=?"
_SESSIONS_PRUNE = "DELETE FROM participant_sessions WHERE expires_at<=?"
_CAPS_IDS = "SELECT participant_id FROM participant_caps"
_CAP_PUT = (
    "INSERT INTO participant_caps (participant_id, per_week) VALUES (?,?)"
    " ON CONFLICT (participant_id) DO UPDATE SET per_week=excluded.per_week"
)
_CAP_DELETE = "DELETE FROM participant_caps WHERE participant_id=?"
# one row per capped participant whose starts in the window reached the cap
_CAPPED = (
    "SELECT c.participant_id FROM participant_caps c JOIN deliveries d ON d.participant_id=c.participant_id"
    " WHERE d.kind='start' AND d.created_at>? AND d.status IN ('queued','sending','sent','delivered')"
    " GROUP BY c.participant_id, c.per_week HAVING count(DISTINCT d.action_id) >= c.per_week"
)
_REACHED_ME = (
    "SELECT d.action_id, d.channel, d.status, d.created_at, a.data FROM deliveries d JOIN actions a ON a.id=d.action_id"
    " WHERE d.participant_id=? AND d.kind IN ('start','end') ORDER BY d.id"
)


def erasure_statements(participant_id: str, data: Mapping[str, Any] | None) -> list[tuple[str, tuple]]:
    """What erasing a participant removes here, run by the store in the erasure's transaction: their
    pending proofs, their sessions, and the sandbox copies of codes and links sent to their contacts."""
    out: list[tuple[str, tuple]] = [
        ("DELETE FROM verifications WHERE participant_id=?", (participant_id,)),
        ("DELETE FROM participant_sessions WHERE participant_id=?", (participant_id,)),
        ("DELETE FROM participant_caps WHERE participant_id=?", (participant_id,)),
    ]
    contacts = [p["number"] for p in (data or {}).get("phones") or () if p.get("number")]
    if (data or {}).get("email"):
        contacts.append(data["email"])
    for address in contacts:
        out.append(("DELETE FROM verifications WHERE target=? AND participant_id IS NULL", (address,)))
        out.append((
            "DELETE FROM outbox WHERE address=? AND kind IN (" + ",".join("?" * len(PERSONAL_KINDS)) + ")",
            (address, *PERSONAL_KINDS),
        ))
    return out


class VerificationQueries:
    """Pending proofs, participant sessions and rate counters, on either backend."""

    backend: str

    async def _write_rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        """A write in a transaction of its own that returns rows (``... RETURNING``)."""
        if self.backend == "postgresql":
            return [tuple(r) for r in await self._p().fetch(numbered(sql), *args)]  # type: ignore[attr-defined]
        return await self._tx(lambda conn: conn.execute(sql, tuple(args)).fetchall())  # type: ignore[attr-defined]

    # -- pending proofs --------------------------------------------------------------------------
    async def verification_put(
        self,
        id: str,
        *,
        purpose: str,
        participant_id: str | None,
        target: str,
        secret_hash: str,
        expires_at: float,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Keep a pending proof under ``id``, replacing (and so invalidating) an earlier one there."""
        await self._run(  # type: ignore[attr-defined]
            _PUT,
            (id, purpose, participant_id, target, secret_hash, json.dumps(dict(data or {})), time.time(), expires_at),
        )

    async def verification_attempt(self, id: str, max_attempts: int) -> tuple[str, int] | None:
        """Count one attempt at a code: ``(secret_hash, attempts so far)``, or ``None`` when there is no
        live proof there (never sent, used, expired, or out of attempts)."""
        rows = await self._write_rows(_ATTEMPT, (id, time.time(), max_attempts))
        return (rows[0][0], int(rows[0][1])) if rows else None

    async def verification_take(self, id: str, secret_hash: str) -> dict[str, Any] | None:
        """Use a proof once: delete it and return it (``purpose``, ``participant_id``, ``target``,
        ``data``), or ``None`` if it is not there, expired, or another request took it first."""
        rows = await self._write_rows(_TAKE, (id, secret_hash, time.time()))
        if not rows:
            return None
        purpose, participant_id, target, data = rows[0]
        return {"purpose": purpose, "participant_id": participant_id, "target": target, "data": json.loads(data)}

    async def verification_forget(self, id: str) -> None:
        await self._run("DELETE FROM verifications WHERE id=?", (id,))  # type: ignore[attr-defined]

    async def verifications_prune(self) -> int:
        """Delete expired proofs (and old rate counters and sessions); how many proofs went."""
        now = time.time()
        await self._run(_RATE_PRUNE, (now - 86_400,))  # type: ignore[attr-defined]
        await self._run(_SESSIONS_PRUNE, (now,))  # type: ignore[attr-defined]
        return await self._run(_EXPIRED, (now,))  # type: ignore[attr-defined]

    # -- rate counters ---------------------------------------------------------------------------
    async def rate_hit(self, key: str, window: float, limit: int) -> float | None:
        """Count one request under ``key`` unless ``limit`` were counted in the last ``window``
        seconds: ``None`` when counted, else the seconds until the oldest one leaves the window.

        Several processes may each let one more through at the same instant (count and insert are two
        statements); the bounds here are small numbers per hour, where one more does no harm.
        """
        now = time.time()
        row = await self._one(_RATE_COUNT, (key, now - window))  # type: ignore[attr-defined]
        count, oldest = (int(row[0]), row[1]) if row else (0, None)
        if count >= limit:
            return max(1.0, float(oldest) + window - now) if oldest is not None else window
        await self._run(_RATE_ADD, (key, now))  # type: ignore[attr-defined]
        return None

    # -- single-use keys ---------------------------------------------------------------------
    async def spend_once(self, key: str, until: float) -> bool:
        """Spend ``key`` (valid until epoch ``until``): ``True`` the first time in any process of the
        store, ``False`` ever after, until it is forgotten :data:`SPENT_KEEP_SECONDS` past ``until``
        (hubs' clocks differ a little). One statement decides, so two hubs spending the same key at
        the same instant cannot both succeed."""
        now = time.time()
        await self._run(_SPENT_PRUNE, (now - SPENT_KEEP_SECONDS,))  # type: ignore[attr-defined]
        return await self._run(_SPEND, (key, until)) == 1  # type: ignore[attr-defined]

    # -- weekly caps -----------------------------------------------------------------------------
    async def caps_write(self, caps: Sequence[tuple[str, int | None]]) -> None:
        """Record each participant's cap on actions per week (``None``: no cap)."""
        if not caps:
            return
        had = {r[0] for r in await self._all(_CAPS_IDS)}  # type: ignore[attr-defined]
        put = [(pid, n) for pid, n in caps if n is not None]
        gone = [(pid,) for pid, n in caps if n is None and pid in had]
        if put:
            await self._run_many(_CAP_PUT, put)  # type: ignore[attr-defined]
        if gone:
            await self._run_many(_CAP_DELETE, gone)  # type: ignore[attr-defined]

    async def capped_participants(self, window: float = 7 * 86400.0) -> set[str]:
        """The participants whose actions in the last ``window`` seconds reached their cap."""
        return {r[0] for r in await self._all(_CAPPED, (time.time() - window,))}  # type: ignore[attr-defined]

    async def actions_reaching(self, participant_id: str) -> list[dict[str, Any]]:
        """The actions whose start (and closing message) went to this participant, newest first, with
        how they ended and on which channels."""
        out: dict[str, dict[str, Any]] = {}
        for action_id, channel, status, created, data in await self._all(_REACHED_ME, (participant_id,)):  # type: ignore[attr-defined]
            action = json.loads(data)
            entry = out.setdefault(action_id, {
                "id": action_id, "type": action.get("type"), "title": action.get("title") or "",
                "description": action.get("description"), "started_at": action.get("started_at"),
                "status": action.get("status"), "result": action.get("result"),
                "result_text": action.get("result_text"), "ended_at": action.get("ended_at"),
                "area": action.get("area"), "photos": action.get("photos") or [], "messages": [],
            })
            entry["messages"].append({"channel": channel, "status": status, "at": created})
        return sorted(out.values(), key=lambda a: a.get("started_at") or "", reverse=True)

    async def tips_by(self, participant_id: str) -> list[dict[str, Any]]:
        rows = await self._all(  # type: ignore[attr-defined]
            "SELECT id, action_id, text, channel, photo IS NOT NULL, created_at FROM tips WHERE participant_id=?"
            " ORDER BY id", (participant_id,),
        )
        return [{"id": i, "action_id": a, "text": t, "channel": c, "has_photo": bool(p), "at": at}
                for i, a, t, c, p, at in rows]

    async def sessions_of(self, participant_id: str) -> list[dict[str, Any]]:
        rows = await self._all(  # type: ignore[attr-defined]
            "SELECT created_at, expires_at FROM participant_sessions WHERE participant_id=? ORDER BY created_at",
            (participant_id,),
        )
        return [{"created_at": c, "expires_at": e} for c, e in rows]

    # -- sessions --------------------------------------------------------------------------------
    async def session_put(self, token_hash: str, participant_id: str, expires_at: float) -> None:
        await self._run(_SESSION_PUT, (token_hash, participant_id, time.time(), expires_at))  # type: ignore[attr-defined]

    async def session_participant(self, token_hash: str) -> str | None:
        row = await self._one(_SESSION_GET, (token_hash, time.time()))  # type: ignore[attr-defined]
        return row[0] if row else None

    async def session_delete(self, token_hash: str) -> bool:
        return await self._run(_SESSION_DELETE, (token_hash,)) == 1  # type: ignore[attr-defined]
