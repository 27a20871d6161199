"""What the retention sweep removes, in SQL both backends run alike (a mixin of both stores).

An action that ended before the cut-off keeps its own record (type, description, area, times), but
loses its ledger rows (who was sent what: phone numbers, e-mail addresses), its sandbox outbox rows,
its tips (free text that may name anybody, and their photos) and the photos uploaded for it. A photo
is kept while an action that is not expired names it. Rows go in chunks, each in a transaction of
its own, so a national action's ledger never holds the store's writer for long.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import AuditEntry

#: rows deleted per statement
CHUNK = 20_000

EXPIRED_WITH_ROWS = (
    "SELECT id FROM actions WHERE status='ended' AND updated_at < ? AND ("
    " EXISTS (SELECT 1 FROM deliveries d WHERE d.action_id = actions.id)"
    " OR EXISTS (SELECT 1 FROM outbox o WHERE o.action_id = actions.id)"
    " OR EXISTS (SELECT 1 FROM tips t WHERE t.action_id = actions.id))"
    " ORDER BY updated_at"
)
DELETE_CHUNK = {
    table: f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE action_id=? LIMIT ?)"
    for table in ("deliveries", "outbox", "tips")
}
#: photos uploaded before the cut-off that no action still kept (not expired) names
DELETE_OLD_PHOTOS = (
    "DELETE FROM photos WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM actions"
    " WHERE NOT (status='ended' AND updated_at < ?) AND data LIKE '%/v1/photos/' || photos.name || '%')"
)


@dataclass
class Removed:
    """What one sweep removed."""

    actions: int = 0
    deliveries: int = 0
    outbox: int = 0
    tips: int = 0
    photos: int = 0
    action_ids: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.deliveries + self.outbox + self.tips + self.photos

    def counts(self) -> dict[str, int]:
        return {"actions": self.actions, "deliveries": self.deliveries, "outbox": self.outbox,
                "tips": self.tips, "photos": self.photos}


class RetentionQueries:
    """``expire(cutoff, audit)``, on the shared primitives ``_all`` and ``_run`` and the store's ``scrub``."""

    #: statements (``?`` the action's id) removing what a backend keeps beside an action's ledger rows,
    #: run before those rows go (PostgreSQL's queue and provider receipts)
    LEDGER_COMPANIONS: tuple[str, ...] = ()

    async def expire(self, cutoff: float, audit: AuditEntry) -> Removed:
        """Remove what belongs to actions that ended before ``cutoff`` (epoch seconds), write ``audit``
        (its detail completed with the counts) when anything went, and scrub the files."""
        removed = Removed()
        for (action_id,) in await self._all(EXPIRED_WITH_ROWS, (cutoff,)):
            removed.actions += 1
            removed.action_ids.append(action_id)
            for sql in self.LEDGER_COMPANIONS:
                await self._run(sql, (action_id,))
            for table, sql in DELETE_CHUNK.items():
                while True:
                    n = await self._run(sql, (action_id, CHUNK))
                    setattr(removed, table, getattr(removed, table) + n)
                    if n < CHUNK:
                        break
        removed.photos = await self._run(DELETE_OLD_PHOTOS, (cutoff, cutoff))
        if removed.total:
            await self.add_audit(AuditEntry(audit.actor, audit.role, audit.verb, audit.subject,
                                            {**audit.detail, **removed.counts()}))
            await self.scrub()
        return removed
