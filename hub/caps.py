"""Weekly caps: a participant may limit how many actions reach them in any 7 days.

Pilot participants quit over "too many actions"; a cap keeps them. The cap is part of the
participant's record (``max_actions_per_week``) and mirrored in the store's small table of capped
participants, so choosing an action's audience costs one query: the capped participants whose starts
in the last 7 days (any channel, one count per action) reached their cap. Those are left out of the
new action with the skip reason ``weekly_cap``; every other rule (pause, quiet hours, addresses,
verified contacts) was applied by the audience index before.
"""

from __future__ import annotations

from typing import AbstractSet

from .store import DeliveryColumns

WEEKLY_CAP = "weekly_cap"
WINDOW_SECONDS = 7 * 86400.0


async def weekly_capped(store) -> frozenset[str]:
    """Ids of the participants no further action may reach now."""
    query = getattr(store, "capped_participants", None)
    return frozenset(await query(WINDOW_SECONDS)) if query is not None else frozenset()


def without_capped(block: DeliveryColumns, capped: AbstractSet[str]) -> tuple[DeliveryColumns, int]:
    """One channel's new rows without the capped participants, and how many were left out."""
    if not capped:
        return block, 0
    keep = [i for i, pid in enumerate(block.participant_ids) if pid not in capped]
    if len(keep) == len(block):
        return block, 0
    return (
        DeliveryColumns(
            block.channel,
            [block.addresses[i] for i in keep],
            [block.participant_ids[i] for i in keep],
            [block.languages[i] for i in keep],
        ),
        len(block) - len(keep),
    )
