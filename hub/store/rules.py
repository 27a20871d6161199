"""The routing rules in force, kept in the store by version (both backends).

Each accepted rule set is one row of ``routing_rules``: its text, its SHA-256, where it came from, who
loaded it and when. The highest version is the one in force. On a shared store every hub of the
cluster follows it (:mod:`hub.rules_cluster`); writing one sends ``NOTIFY burgerhub_rules`` with the
version, delivered at commit. Versions are handed out one writer at a time (the embedded store's single
writer; a transaction lock on PostgreSQL), so two loads at once get two versions and every hub ends up
on the later one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

#: older versions than this many before the newest are removed (the audit keeps every diff)
KEEP_VERSIONS = 50
#: transaction lock key (pg_advisory_xact_lock) of writers of rule versions
RULES_LOCK = 7301000009

_COLUMNS = "version, text, sha256, source, actor, role, loaded_at"
ACTIVE_RULES = f"SELECT {_COLUMNS} FROM routing_rules ORDER BY version DESC LIMIT 1"
RULES_VERSION = "SELECT MAX(version) FROM routing_rules"
#: the next version; with ``SEED_ONLY`` appended, only while no version is stored
INSERT_RULES = (
    "INSERT INTO routing_rules (version, text, sha256, source, actor, role, loaded_at)"
    " SELECT m.v, ?, ?, ?, ?, ?, ? FROM (SELECT COALESCE(MAX(version), 0) + 1 AS v, COUNT(*) AS n"
    " FROM routing_rules) m"
)
# (not HAVING without GROUP BY: SQLite before 3.39 refuses that)
SEED_ONLY = " WHERE m.n = 0"
RETURNING = " RETURNING version"
PRUNE_RULES = "DELETE FROM routing_rules WHERE version <= ?"


@dataclass(frozen=True, slots=True)
class StoredRules:
    """One stored version of the routing rules."""

    version: int
    text: str
    sha256: str
    source: str
    actor: str
    role: str
    loaded_at: float


class RulesQueries:
    """Reads of the stored rules on the shared primitives; each backend writes them in
    ``_insert_rules(sql, args)`` (one writer at a time, returning the new version or ``None``)."""

    async def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        raise NotImplementedError

    async def _insert_rules(self, sql: str, args: Sequence[Any]) -> int | None:
        raise NotImplementedError

    async def active_rules(self) -> StoredRules | None:
        """The rules in force (the highest stored version), or ``None`` when none are stored."""
        rows = await self._all(ACTIVE_RULES)
        if not rows:
            return None
        version, text, sha256, source, actor, role, loaded_at = rows[0]
        return StoredRules(int(version), text, sha256, source, actor, role, float(loaded_at))

    async def rules_version(self) -> int:
        """The version in force (0: none stored); a cheap check for a newer one."""
        rows = await self._all(RULES_VERSION)
        return int(rows[0][0] or 0) if rows else 0

    async def store_rules(
        self, text: str, sha256: str, *, source: str, actor: str, role: str, seed: bool = False
    ) -> int | None:
        """Store ``text`` as the next version and answer it. With ``seed``, only when no version is
        stored yet (the first hub's rules file seeds the store); ``None`` when another was there."""
        sql = INSERT_RULES + (SEED_ONLY if seed else "") + RETURNING
        return await self._insert_rules(sql, (text, sha256, source, actor, role, time.time()))
