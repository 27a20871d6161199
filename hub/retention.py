"""The retention period: what an action leaves behind is removed a while after it ended.

Deliveries (who was sent what, at which number or address), sandbox outbox rows, tips (free text that
may name anybody, with their photos) and the photos uploaded for an action are removed
``[retention] days`` after the action ended (default 90; 0 keeps them for ever). The action's own
record stays. The sweep runs every ``sweep_minutes`` in the process holding the once-only "sweeps"
duty (:mod:`hub.duties`: on PostgreSQL one process of a cluster, on SQLite the serving hub). Every
sweep that removed anything is in the audit log (``retention.sweep``, with the counts and the
setting in force), and so is every change of the setting (``retention.setting``). After a sweep the
store takes the deleted data off the disk (:meth:`hub.store.Store.scrub`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

from .background import BackgroundLoop
from .config import RetentionSettings
from .store import AuditEntry

log = logging.getLogger("burgerhub.retention")

DAY = 86_400.0
#: where the setting last in force is kept (the store's channel records), to audit changes
RECORD = ("hub", "retention")


class RetentionSweeper(BackgroundLoop):
    task_name = "burgerhub-retention"

    """Removes what expired, now (:meth:`sweep`) and every ``sweep_minutes`` while started."""

    def __init__(self, store, settings: RetentionSettings, holds: Callable[[], bool],
                 *, clock: Callable[[], float] = time.time):
        self.store = store
        self.settings = settings
        self._holds = holds
        self._clock = clock
        #: how the loop waits between sweeps (tests replace it)
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def _detail(self) -> dict:
        return {"days": self.settings.days}

    async def sweep(self):
        """One sweep: returns what was removed (:class:`hub.store.retention.Removed`), or ``None``
        when the period is 0 (keep for ever)."""
        if self.settings.days <= 0:
            return None
        cutoff = self._clock() - self.settings.days * DAY
        audit = AuditEntry("burgerhub", "system", "retention.sweep", "retention", {**self._detail(), "cutoff": cutoff})
        removed = await self.store.expire(cutoff, audit)
        if removed.total:
            log.info("retention: removed %s of %d actions that ended more than %g days ago",
                     removed.counts(), removed.actions, self.settings.days)
        return removed

    async def note_setting(self) -> None:
        """Audit the setting when it differs from the one last in force."""
        before = await self.store.record_get(*RECORD)
        now = self._detail()
        if before != now:
            await self.store.add_audit(AuditEntry(
                "burgerhub", "system", "retention.setting", "retention", {"before": before, "now": now}))
            await self.store.record_put(*RECORD, now)

    async def _run(self) -> None:
        first = True
        while True:
            # the first sweep a little after start, so it never competes with the start-up itself
            await self.sleep(5.0 if first else self.settings.sweep_minutes * 60)
            if not self._holds():
                continue  # another process of the cluster sweeps
            try:
                if first:
                    await self.note_setting()
                    first = False
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the retention sweep failed; it runs again in %g minutes", self.settings.sweep_minutes)
