"""The store-backed collaborators a channel gets in its :class:`~hub.channel.ChannelContext`."""

from __future__ import annotations

import time
from typing import Any, Callable

from .models import ActionView, ReceiptStatus, Tip, action_from_dict
from .text import clean_text


class StoreRecords:
    """A channel's private key-value records, durable in the hub's store."""

    def __init__(self, store, channel: str):
        self.store, self.channel = store, channel

    async def get(self, key: str) -> dict[str, Any] | None:
        return await self.store.record_get(self.channel, key)

    async def put(self, key: str, value: dict[str, Any]) -> None:
        await self.store.record_put(self.channel, key, value)

    async def delete(self, key: str) -> bool:
        return await self.store.record_delete(self.channel, key)

    async def scan(self, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        return await self.store.record_scan(self.channel, prefix)


class StoreTips:
    def __init__(self, store, channel: str, on_tip: Callable[[str, int], None] | None = None):
        self.store, self.channel, self.on_tip = store, channel, on_tip

    async def submit(self, tip: Tip) -> str:
        tip_id = await self.store.add_tip(
            {
                "action_id": tip.action_id,
                "text": clean_text(tip.text),  # whatever channel it came through
                "channel": tip.channel or self.channel,
                "participant_id": tip.participant_id,
                "sender": clean_text(tip.sender) if tip.sender else tip.sender,
                "photo": tip.photo,
                "photo_type": tip.photo_type,
            }
        )
        if self.on_tip:
            self.on_tip(tip.action_id, tip_id)
        return str(tip_id)

    async def action_for(self, address: str) -> str | None:
        return await self.store.latest_action_for(self.channel, address)


class StoreReceipts:
    """Applies provider status callbacks; a non-permanent failure is retried after ``retry_delay``."""

    def __init__(self, store, channel: str, *, retry_delay: float = 60.0, wake: Callable[[], None] | None = None):
        self.store, self.channel, self.retry_delay, self.wake = store, channel, retry_delay, wake

    async def update(
        self,
        provider_id: str,
        status: ReceiptStatus,
        reason: str | None = None,
        *,
        permanent: bool = True,
        retry_after: float | None = None,
    ) -> int:
        """Record a provider's later report on a delivery; returns how many ledger rows changed.

        A non-permanent failure puts the delivery back in the queue after ``retry_after`` seconds
        (the provider's hint) or the channel's default delay.
        """
        retry_at = None
        if status is ReceiptStatus.FAILED and not permanent:
            retry_at = time.time() + (retry_after if retry_after is not None else self.retry_delay)
        n = await self.store.apply_provider_status(
            self.channel, provider_id, ReceiptStatus(status).value, reason, retry_at=retry_at
        )
        if retry_at is not None and self.wake:
            self.wake()
        return n


class StoreOptOuts:
    def __init__(self, registry, channel: str):
        self.registry, self.channel = registry, channel

    async def opt_out(self, participant_id: str) -> bool:
        return await self.registry.opt_out(participant_id, self.channel)

    async def opt_out_address(self, address: str) -> bool:
        participant_id = await self.registry.store.participant_for(self.channel, address)
        if participant_id is None:
            return False
        return await self.registry.opt_out(participant_id, self.channel)


class StoreActions:
    """The actions routed to one channel, read from the store (see :class:`~hub.channel.ActionFeed`)."""

    def __init__(self, store, channel: str):
        self.store, self.channel = store, channel

    def _routed(self, data: dict[str, Any]) -> bool:
        route = data.get("route") or {}
        audience = ((data.get("audience") or {}).get("channels") or {}).get(self.channel) or {}
        return self.channel in route.get("channels", ()) and "unavailable" not in audience

    async def current(self, *, ended_since: float, limit: int) -> list[ActionView]:
        rows = await self.store.current_actions(ended_since, limit=limit)
        return [action_from_dict(d) for d in rows if self._routed(d)]
