"""Durable state behind one narrow interface: actions, the delivery ledger, participants, tips, audit.

:class:`Store` is the protocol, with two implementations side by side:

* :mod:`hub.store.sqlite` - the embedded default, one serving process per database file;
* :mod:`hub.store.postgres` - PostgreSQL, shared by any number of hub processes on any machines.

The statements both run alike are written once in :mod:`hub.store.queries`; each backend's schema
versions are numbered SQL files in :mod:`hub.store.migrations`. Every lifecycle change and the ledger
rows it creates are written in one transaction (a transactional outbox), so a crash between "action
started" and "messages queued" cannot happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Callable, Container, Iterator, Mapping, NamedTuple, Protocol, Sequence


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


@dataclass(frozen=True, slots=True)
class DeliveryColumns:
    """New ledger rows of one channel as columns (equal lengths): a national fan-out hands its
    recipients to the store without building a Python object per row."""

    channel: str
    addresses: Sequence[str]
    participant_ids: Sequence[str | None]
    languages: Sequence[str]

    def __len__(self) -> int:
        return len(self.addresses)

    def rows(self) -> Iterator[NewDelivery]:
        return map(NewDelivery, repeat(self.channel), self.addresses, self.participant_ids, self.languages)

    def without(self, addresses: Container[str]) -> DeliveryColumns:
        """The rows whose address is not in ``addresses``."""
        keep = [i for i, a in enumerate(self.addresses) if a not in addresses]
        if len(keep) == len(self.addresses):
            return self
        return DeliveryColumns(
            self.channel,
            [self.addresses[i] for i in keep],
            [self.participant_ids[i] for i in keep],
            [self.languages[i] for i in keep],
        )


#: what the store takes as new ledger rows: single rows, or one channel's rows as columns
NewRows = Sequence[NewDelivery] | Sequence[DeliveryColumns]


def count_rows(rows: NewRows) -> int:
    return sum(len(r) if isinstance(r, DeliveryColumns) else 1 for r in rows)


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
class ParticipantChanges:
    """The participants changed after some generation, read at once with the version they lead to.

    ``texts``: stored JSON of each participant written since; ``removed``: ids erased since (both
    ``None`` when the changes could not be told or were too many; see ``Store.participant_changes``).
    ``complete_since``: the earliest generation the store can replay changes from.
    """

    version: ParticipantsVersion
    complete_since: int
    count: int | None
    texts: list[str] | None
    removed: list[str] | None


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
    """The operations the hub needs, on either backend."""

    #: "sqlite" or "postgresql"
    backend: str
    #: several hub processes may serve this store at once
    shared: bool

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    # several processes: membership (heartbeat), wake-ups from other processes, who is running
    async def join(self, owner: str) -> None: ...
    async def listen(self, topic: str, handler: Callable[[str], None]) -> None: ...
    def unlisten(self, topic: str, handler: Callable[[str], None]) -> None: ...
    async def processes(self) -> list[dict[str, Any]]: ...

    async def create_action(
        self, action: Mapping[str, Any], rows: NewRows, audit: AuditEntry
    ) -> int: ...
    async def update_action(
        self, action: Mapping[str, Any], rows: NewRows, audit: AuditEntry, *, notify_reached: bool
    ) -> tuple[int, int]: ...
    async def end_action(self, action: Mapping[str, Any], audit: AuditEntry) -> int: ...
    async def get_action(self, action_id: str) -> dict[str, Any] | None: ...
    async def list_actions(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...
    async def current_actions(self, ended_since: float, *, limit: int = 100) -> list[dict[str, Any]]: ...
    async def action_counts(self, action_id: str) -> dict[str, Any]: ...
    async def reached_addresses(self, action_id: str) -> dict[str, set[str]]: ...

    async def claim(self, channel: str, limit: int, *, owner: str, lease_seconds: float) -> list[LedgerRow]: ...
    async def complete(self, outcomes: Sequence[Outcome], *, owner: str | None = None) -> None: ...
    async def requeue_orphans(self, owner: str | None = None, *, in_doubt_seconds: float = 0.0) -> int: ...
    async def hand_over(self, provider_ids: Mapping[int, str]) -> None: ...
    async def next_due(self, channel: str) -> float | None: ...
    async def apply_provider_status(
        self, channel: str, provider_id: str, status: str, reason: str | None, *, retry_at: float | None
    ) -> int: ...
    async def latest_action_for(self, channel: str, address: str) -> str | None: ...
    async def participant_for(self, channel: str, address: str) -> str | None: ...
    async def app_first_state(
        self, action_id: str, channel: str, kind: str, participant_ids: Sequence[str]
    ) -> dict[str, tuple[str, float]]: ...

    async def photo_put(self, name: str, content_type: str, body: bytes) -> None: ...

    # the routing rules in force by version (hub.store.rules; a cluster follows the highest)
    async def active_rules(self) -> Any: ...
    async def rules_version(self) -> int: ...
    async def store_rules(
        self, text: str, sha256: str, *, source: str, actor: str, role: str, seed: bool = False
    ) -> int | None: ...

    # privacy on disk (hub.store.retention): remove what expired; take deleted data off the disk
    async def expire(self, cutoff: float, audit: AuditEntry) -> Any: ...
    async def scrub(self) -> bool: ...
    async def photo_get(self, name: str) -> tuple[bytes, str] | None: ...
    async def photo_actions(self, name: str) -> list[tuple[str, float]]: ...

    async def put_participants(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> GenerationStep: ...
    async def erase_participant(self, participant_id: str, audit: AuditEntry) -> GenerationStep | None: ...
    async def participants_version(self) -> ParticipantsVersion: ...
    async def participant_changes(self, since: int, *, limit: int | None = None) -> ParticipantChanges: ...
    async def prune_participant_tombstones(self, upto: int) -> int: ...
    # partners (hub.store.partners): organisations, people's tokens (hashed), CAP messages, public policies
    async def put_organisation(self, org_id: str, data: Mapping[str, Any]) -> None: ...
    async def get_organisation(self, org_id: str) -> dict[str, Any] | None: ...
    async def list_organisations(self) -> list[dict[str, Any]]: ...
    async def add_organisation_token(
        self, token_id: str, org_id: str, name: str, role: str, token_hash: str
    ) -> dict[str, Any]: ...
    async def organisation_token_by_hash(self, token_hash: str) -> dict[str, Any] | None: ...
    async def list_organisation_tokens(self, org_id: str | None = None) -> list[dict[str, Any]]: ...
    async def revoke_organisation_token(self, token_id: str) -> dict[str, Any] | None: ...
    async def list_actions_of(
        self, organisation: str, *, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]: ...
    async def add_cap_message(self, message: Mapping[str, Any]) -> None: ...
    async def find_cap_message(self, sender: str, identifier: str) -> dict[str, Any] | None: ...
    async def cap_messages(self, action_id: str) -> list[dict[str, Any]]: ...
    async def put_public_policy(self, action_type: str, data: Mapping[str, Any]) -> None: ...
    async def public_policies(self) -> dict[str, dict[str, Any]]: ...

    # evaluation (hub.store.evaluation): kept figures of settled actions, a period's reads, phone tips
    async def action_figures(self, action_id: str) -> dict[str, Any]: ...
    async def figures_of(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...
    async def keep_settled_figures(self, *, now: float | None = None, limit: int = 500,
                                   settle_seconds: float = ..., since: float = 0.0) -> int: ...
    async def period_actions(self, start: float, end: float) -> list[tuple[str, str, str | None]]: ...
    async def period_tips(self, start: float, end: float) -> list[tuple[str, str, int, float]]: ...
    async def reach_counts(self, start: float, end: float, action_ids: Sequence[str] | None = None) -> dict[int, int]: ...
    async def participant_cells(self, step: float) -> list[tuple[int, int, int]]: ...
    async def kept_participant_cells(self, step: float) -> tuple[str, int, float, list[tuple[int, int, int]]] | None: ...
    async def keep_participant_cells(self, step: float, database_id: str, generation: int, counted_at: float,
                                     cells: Sequence[tuple[int, int, int]]) -> None: ...
    async def add_phone_tip(self, action_id: str, text: str, received_at: float) -> int: ...

    def scan_participants(self, chunk_size: int = 20_000) -> Any:
        """An async context manager with ``version`` that yields chunks of participants' JSON texts."""
        ...

    # proving contacts, sessions, rate counters and weekly caps (hub.store.verification, both backends)
    async def verification_put(self, id: str, *, purpose: str, participant_id: str | None, target: str,
                               secret_hash: str, expires_at: float, data: Mapping[str, Any] | None = None) -> None: ...
    async def verification_attempt(self, id: str, max_attempts: int) -> tuple[str, int] | None: ...
    async def verification_take(self, id: str, secret_hash: str) -> dict[str, Any] | None: ...
    async def rate_hit(self, key: str, window: float, limit: int) -> float | None: ...
    async def spend_once(self, key: str, until: float) -> bool: ...
    async def session_put(self, token_hash: str, participant_id: str, expires_at: float) -> None: ...
    async def session_participant(self, token_hash: str) -> str | None: ...
    async def caps_write(self, caps: Sequence[tuple[str, int | None]]) -> None: ...
    async def capped_participants(self, window: float = ...) -> set[str]: ...
