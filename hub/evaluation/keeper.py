"""Keeps the figures of actions whose ledger has settled, once a minute, in one process of a cluster.

See :mod:`hub.store.evaluation`: an ended action's delivery figures are kept once nothing of it is queued
or in flight and its ledger has not changed for a while, so reports read one row per action and the
figures outlive ledger rows that a retention period removes.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..background import BackgroundLoop

log = logging.getLogger("burgerhub.evaluation")

INTERVAL_SECONDS = 60.0
#: actions that started longer ago than this are left to reports (which keep any left over): the
#: minute's round reads only recent actions, however long the history grows
RECENT_SECONDS = 14 * 86400.0


async def keep_figures(store, holds=lambda: True, interval: float = INTERVAL_SECONDS) -> None:
    """Run until cancelled: every ``interval``, keep the figures of newly settled actions while
    ``holds()`` (the process holds the duty)."""
    while True:
        await asyncio.sleep(interval)
        if not holds():
            continue
        try:
            kept = await store.keep_settled_figures(since=time.time() - RECENT_SECONDS)
            if kept:
                log.info("kept the figures of %d settled actions", kept)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("keeping the figures of settled actions failed; trying again later")


class FigureKeeper(BackgroundLoop):
    """:func:`keep_figures` as one of the hub's background loops."""

    task_name = "burgerhub-figures"

    def __init__(self, store, holds) -> None:
        self.store = store
        self.holds = holds

    async def _run(self) -> None:
        await keep_figures(self.store, self.holds)
