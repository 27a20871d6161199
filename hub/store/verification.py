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
_SESSION_PUT = "INSERT INTO participant_sessions (token_hash, participant_id, created_at, expires_at) VALUES (?,?,?,?)"
_SESSION_GET = "SELECT participant_id FROM participant_sessions WHERE token_hash=? AND expires_at>?"
_SESSION_DELETE = "DELETE FROM participant_sessions WHERE token_hash=?"
_SESSIONS_PRUNE = "DELETE FROM participant_sessions WHERE expires_at<=?"


def erasure_statements(participant_id: str, data: Mapping[str, Any] | None) -> list[tuple[str, tuple]]:
    """What erasing a participant removes here, run by the store in the erasure's transaction: their
    pending proofs, their sessions, and the sandbox copies of codes and links sent to their contacts."""
    out: list[tuple[str, tuple]] = [
        ("DELETE FROM verifications WHERE participant_id=?", (participant_id,)),
        ("DELETE FROM participant_sessions WHERE participant_id=?", (participant_id,)),
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

    # -- sessions --------------------------------------------------------------------------------
    async def session_put(self, token_hash: str, participant_id: str, expires_at: float) -> None:
        await self._run(_SESSION_PUT, (token_hash, participant_id, time.time(), expires_at))  # type: ignore[attr-defined]

    async def session_participant(self, token_hash: str) -> str | None:
        row = await self._one(_SESSION_GET, (token_hash, time.time()))  # type: ignore[attr-defined]
        return row[0] if row else None

    async def session_delete(self, token_hash: str) -> bool:
        return await self._run(_SESSION_DELETE, (token_hash,)) == 1  # type: ignore[attr-defined]
