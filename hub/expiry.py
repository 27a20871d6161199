"""Actions end, even when nobody ends them.

Every action has an ``expires_at`` (``expires_in_minutes`` when it starts, else ``[hub]
action_ttl_hours``; a dispatcher may extend it with an update). The :class:`ExpirySweeper` ends each
active action whose time has passed as *ended without result*, exactly as a dispatcher's end would:
the closing message goes to everyone who was reached, and the audit entry says ``reason: expired``.
On a cluster only the process holding the "sweeps" duty sweeps; the store ends an action only while it
is still active, so a dispatcher ending it at the same moment wins cleanly and nothing is sent twice.
The console warns the dispatcher ``[hub] expiry_warning_minutes`` before.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

from .actions import SYSTEM
from .background import BackgroundLoop
from .errors import Conflict, NotFound
from .models import Result

log = logging.getLogger("burgerhub.expiry")

#: how often the holder of the "sweeps" duty looks for expired actions
SWEEP_SECONDS = 10.0
#: more active actions than any network runs at once; each sweep reads at most this many
MAX_ACTIVE = 100_000


class ExpirySweeper(BackgroundLoop):
    task_name = "burgerhub-expiry"

    def __init__(self, hub: Any, *, interval: float = SWEEP_SECONDS) -> None:
        self.hub = hub
        self.interval = interval

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweeping expired actions failed")
            await asyncio.sleep(self.interval)

    async def sweep(self, now: datetime | None = None) -> list[str]:
        """End every active action whose ``expires_at`` has passed; return their ids."""
        if not self.hub.duties.holds("sweeps"):
            return []
        now = now or datetime.now(timezone.utc)
        ended = []
        for data in await self.hub.store.list_actions(status="active", limit=MAX_ACTIVE):
            expires = data.get("expires_at")
            if not expires or datetime.fromisoformat(expires) > now:
                continue
            try:
                await self.hub.actions.end(
                    data["id"], {"result": Result.ENDED_WITHOUT_RESULT.value}, SYSTEM, reason="expired"
                )
            except (Conflict, NotFound):
                continue  # ended (or erased) by someone else in the meantime
            log.warning("action %s expired at %s and ended without result", data["id"], expires)
            ended.append(data["id"])
        return ended
