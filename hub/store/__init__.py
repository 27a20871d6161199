"""Durable state behind one narrow interface: actions, the delivery ledger, participants, tips, audit.

:class:`Store` is the protocol; :class:`~hub.store.sqlite.SQLiteStore` the embedded default. Every
lifecycle change and the ledger rows it creates are written in one transaction (a transactional
outbox), so a crash between "action started" and "messages queued" cannot happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple, Protocol, Sequence


class DeliveryStatus:
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    REACHED = ("sending", "sent", "delivered")
    FINAL = ("sent", "delivered", "failed", "cancelled", "skipped")


URGENCY_RANK = {"time_critical": 0, "non_urgent": 1}


# The ledger's row types are named tuples, not dataclasses: a national fan-out makes hundreds of
# thousands of each, and a tuple is built several times faster than a frozen dataclass.


class NewDelivery(NamedTuple):
    channel: str
    address: str
    participant_id: str | None
    language: str


class LedgerRow(NamedTuple):
    id: int
    action_id: str
    channel: str
    kind: str
    seq: int
    address: str
    participant_id: str | None
    language: str
    attempts: int


class Outcome(NamedTuple):
    """What became of one claimed row. ``status`` is a DeliveryStatus; ``retry_at`` requeues it."""

    id: int
    status: str
    reason: str | None = None
    provider_id: str | None = None
    retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class ParticipantsVersion:
    """Which state of the participants a derived copy reflects: the database's random id and the
    participants generation, which every change of a participant's data bumps by one."""

    database_id: str
    generation: int


@dataclass(frozen=True, slots=True)
class GenerationStep:
    """The participants generation just before and just after one write (one step per row written)."""

    before: int
    after: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: str
    role: str
    verb: str
    subject: str
    detail: Mapping[str, Any] = field(default_factory=dict)


class Store(Protocol):
    """The operations the hub needs; a PostgreSQL implementation provides the same ones."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def create_action(
        self, action: Mapping[str, Any], rows: Sequence[NewDelivery], audit: AuditEntry
    ) -> int: ...
    async def update_action(
        self, action: Mapping[str, Any], rows: Sequence[NewDelivery], audit: AuditEntry, *, notify_reached: bool
    ) -> tuple[int, int]: ...
    async def end_action(self, action: Mapping[str, Any], audit: AuditEntry) -> int: ...
    async def get_action(self, action_id: str) -> dict[str, Any] | None: ...
    async def list_actions(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...
    async def action_counts(self, action_id: str) -> dict[str, Any]: ...
    async def reached_addresses(self, action_id: str) -> dict[str, set[str]]: ...

    async def claim(self, channel: str, limit: int, *, owner: str, lease_seconds: float) -> list[LedgerRow]: ...
    async def complete(self, outcomes: Sequence[Outcome]) -> None: ...
    async def requeue_orphans(self, owner: str | None = None) -> int: ...
    async def next_due(self, channel: str) -> float | None: ...
    async def apply_provider_status(
        self, channel: str, provider_id: str, status: str, reason: str | None, *, retry_at: float | None
    ) -> int: ...
    async def latest_action_for(self, channel: str, address: str) -> str | None: ...
    async def participant_for(self, channel: str, address: str) -> str | None: ...

    async def put_participants(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> GenerationStep: ...
    async def erase_participant(self, participant_id: str, audit: AuditEntry) -> GenerationStep | None: ...
    async def participants_version(self) -> ParticipantsVersion: ...
    def scan_participants(self, chunk_size: int = 20_000) -> Any:
        """An async context manager with ``version`` that yields chunks of participants' JSON texts."""
        ...
