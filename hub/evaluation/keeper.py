"""Keeps the figures of actions whose ledger has settled, once a minute, in one process of a cluster.

See :mod:`hub.store.evaluation`: an ended action's delivery figures are kept once nothing of it is queued
or in flight and its ledger has not changed for a while, so reports read one row per action and the
figures outlive ledger rows that a retention period removes.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("burgerhub.evaluation")

INTERVAL_SECONDS = 60.0


async def keep_figures(store, holds=lambda: True, interval: float = INTERVAL_SECONDS) -> None:
    """Run until cancelled: every ``interval``, keep the figures of newly settled actions while
    ``holds()`` (the process holds the duty)."""
    while True:
        await asyncio.sleep(interval)
        if not holds():
            continue
        try:
            kept = await store.keep_settled_figures()
            if kept:
                log.info("kept the figures of %d settled actions", kept)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("keeping the figures of settled actions failed; trying again later")
