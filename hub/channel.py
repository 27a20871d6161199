"""The channel contract: what a channel plugin implements and what the hub gives it.

A channel is a class registered through the ``register_channels`` hook. The hub validates its settings
against ``settings_schema``, builds it with a :class:`ChannelContext`, awaits :meth:`Channel.start`, then
calls :meth:`Channel.deliver` with batches of at most ``batch_size`` deliveries that share one
:class:`~hub.models.Notice`, from at most ``concurrency`` tasks at once, and finally awaits
:meth:`Channel.close`.

``deliver`` returns one :class:`~hub.models.Receipt` per delivery, in any order. It may instead raise a
:class:`~hub.errors.DeliveryError` for the whole batch (a 429 or an outage); transient errors are retried
with backoff, honouring ``retry_after``. Any other exception is treated as transient and logged.

A channel whose ``credentials`` are not configured runs in *sandbox mode*: the hub calls
:meth:`Channel.render` and stores the result in the sandbox outbox instead of calling ``deliver``.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, ClassVar, Mapping, Protocol, Sequence

from .models import ActionView, Delivery, Notice, PersonalMessage, Receipt, ReceiptStatus, Recipient, Rendered, Tip


class AudienceKind(enum.StrEnum):
    PARTICIPANTS = "participants"  # the hub selects participants in the area who chose this channel
    OWN = "own"  # the channel resolves its own recipients (regions, accounts, subscribers, installs)


class Contact(enum.StrEnum):
    """Which of a participant's contact details a participant channel delivers to.

    Each phone number may name what it is used for (``sms``, ``voice``; by default a mobile takes
    both and a landline calls): see :attr:`hub.participants.Participant.sms_number` and
    :attr:`~hub.participants.Participant.voice_number`.
    """

    MOBILE = "mobile"  # the number to text (E.164): the first verified number that takes sms
    PHONE = "phone"  # the number to call: the first verified number that takes voice, mobiles first
    EMAIL = "email"


class RecordStore(Protocol):
    """A small, durable key-value store private to one channel (subscriptions, thread ids, tokens)."""

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def put(self, key: str, value: dict[str, Any]) -> None: ...

    async def delete(self, key: str) -> bool: ...

    async def scan(self, prefix: str = "") -> list[tuple[str, dict[str, Any]]]: ...


class TipSink(Protocol):
    async def submit(self, tip: Tip) -> str:
        """Store a tip on its action and return the tip's id. Raises NotFound for an unknown action."""
        ...

    async def action_for(self, address: str) -> str | None:
        """The id of the most recent action this channel reached ``address`` with (active ones first)."""
        ...


class OptOuts(Protocol):
    async def opt_out(self, participant_id: str) -> bool:
        """Switch this channel off for a participant (e.g. one-click unsubscribe); False if unknown."""
        ...

    async def opt_out_address(self, address: str) -> bool:
        """Switch this channel off for whoever it reached at ``address`` (e.g. an SMS "STOP" reply)."""
        ...


class ReceiptSink(Protocol):
    async def update(
        self,
        provider_id: str,
        status: ReceiptStatus,
        reason: str | None = None,
        *,
        permanent: bool = True,
        retry_after: float | None = None,
    ) -> int:
        """Apply a provider's status callback to the deliveries it sent; return how many changed.

        Statuses only move forward (a late "sent" never undoes "delivered"). A failure with
        ``permanent=False`` re-queues the delivery after ``retry_after`` seconds, or the
        channel's default delay.
        """
        ...


class Templates(Protocol):
    def render(self, name: str, language: str, **variables: Any) -> str:
        """Render ``<language>/<name>`` from the channel's template folder, falling back to the core's."""
        ...

    def text(self, notice: Notice, language: str, *, variant: str = "long", **variables: Any) -> str:
        """The core's citizen-facing text for a notice: ``short`` or ``long`` variant."""
        ...


class CapDocuments(Protocol):
    async def cap_document(self, action_id: str, version: int) -> bytes:
        """The OASIS CAP 1.2 message of this version of an action (Alert, Update or Cancel, with
        references to the earlier ones; no personal data), as UTF-8 XML. Raises NotFound."""
        ...


class ActionFeed(Protocol):
    async def current(self, *, ended_since: float, limit: int) -> Sequence[ActionView]:
        """The actions routed to this channel (that it was running for when they started): the running
        ones, newest first, then those that ended at or after ``ended_since`` (seconds since the
        epoch), the latest first; at most ``limit`` of each. For channels that answer a device asking
        what its pushes would have brought."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelContext:
    """Everything a channel may use. Narrow on purpose: no app, no store, no plugin manager."""

    name: str
    settings: Mapping[str, Any]
    sandbox: bool
    secret: bytes
    public_url: str
    records: RecordStore
    tips: TipSink
    receipts: ReceiptSink
    templates: Templates
    optouts: OptOuts
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("burgerhub.channel"))
    #: the network's name as citizens know it (``[hub] network_name``)
    network_name: str = "Burgernet"
    #: the number citizens call with information (``[hub] callback_number``)
    callback_number: str = "0800 0011"
    #: ``duty()`` is true while this process does the channel's once-only work (republishing state,
    #: sweeps): always on one hub; on a cluster, in exactly one process at a time
    duty: Callable[[], bool] = field(default=lambda: True)
    #: the participant a personal token belongs to (``None``: unknown), for routes where participants
    #: link something of theirs, e.g. an app install, to themselves
    identify: Callable[[str], Awaitable[str | None]] | None = None
    #: actions as CAP 1.2 messages, for channels that forward CAP to partners' systems (``None``: not offered)
    cap: CapDocuments | None = None
    #: the actions routed to this channel, running or ended lately (``None``: not offered)
    actions: ActionFeed | None = None

    def url(self, path: str) -> str:
        """The public URL of one of this channel's web routes (``path`` relative to its mount point)."""
        return f"{self.public_url.rstrip('/')}/v1/channels/{self.name}/{path.lstrip('/')}"


class Channel:
    """Base class of every channel. Subclasses set the class attributes and override the methods."""

    #: equal to the plugin folder and the entry-point name
    name: ClassVar[str]
    #: one line for ``burgerhub plugins`` and the API
    title: ClassVar[str] = ""
    #: JSON Schema (draft 2020-12) of this channel's settings; secrets marked ``"private": true``
    settings_schema: ClassVar[Mapping[str, Any]] = {"type": "object"}
    #: settings keys of which at least one must be set for a real provider to be used (else: sandbox)
    credentials: ClassVar[tuple[str, ...]] = ()
    #: modules that must import for the channel to work; a missing one disables it with a reason
    requirements: ClassVar[tuple[str, ...]] = ()
    audience: ClassVar[AudienceKind] = AudienceKind.PARTICIPANTS
    contact: ClassVar[Contact | None] = Contact.MOBILE
    #: most deliveries per ``deliver`` call (1 for per-recipient APIs; hundreds for bulk APIs)
    batch_size: ClassVar[int] = 1
    #: default parallel ``deliver`` calls; the operator may override with ``concurrency``
    concurrency: ClassVar[int] = 8
    #: default messages per second towards the provider (``None``: unlimited); override with ``rate``
    rate: ClassVar[float | None] = None
    #: on a cluster, only one hub process at a time delivers this channel (it holds the duty
    #: ``channel:<name>``): for channels whose messages build on each other's state, such as a
    #: thread of posts or a sign's sequence numbers
    exclusive: ClassVar[bool] = False
    #: folder holding ``<language>/<template>`` files, searched before the core's templates
    templates_dir: ClassVar[Path | None] = None

    def __init__(self, context: ChannelContext) -> None:
        self.context = context
        self.settings = context.settings

    async def start(self) -> None:
        """Open connections. Raise :class:`~hub.errors.PluginError` if the channel cannot work."""

    async def close(self) -> None:
        """Release connections; called once, also after a failed start."""

    def render(self, notice: Notice, recipient: Recipient) -> Rendered:
        """Lay out the message for this recipient. Pure: no I/O. Used for delivery and the sandbox."""
        return Rendered(text=self.context.templates.text(notice, recipient.language))

    async def deliver(self, notice: Notice, deliveries: Sequence[Delivery]) -> Sequence[Receipt]:
        """Hand the messages to the provider; one receipt per delivery (see module docs)."""
        raise NotImplementedError

    def provider_ids(self, notice: Notice, deliveries: Sequence[Delivery]) -> Mapping[int, str] | None:
        """For providers whose later reports (delivery reports) carry an id the sender chose: the
        ``provider_id`` each delivery's receipt and reports will have, decided before sending. The
        engine writes them to the ledger before calling :meth:`deliver`, so that after a crash a
        report still finds its row and settles it, instead of the message being sent twice.
        ``None`` (the default): the provider assigns its ids itself."""
        return None

    #: whether :meth:`send_personal` is implemented (codes and links to prove a contact)
    personal: ClassVar[bool] = False

    async def send_personal(self, message: PersonalMessage) -> str | None:
        """Send one :class:`~hub.models.PersonalMessage` now (not through the ledger); return the
        provider's message id. Raise :class:`~hub.errors.DeliveryError` when it was not accepted.
        Channels that prove contacts (sms, voice, email) set ``personal = True`` and implement it; in
        sandbox mode the hub writes the message to the outbox instead of calling this."""
        raise NotImplementedError

    async def resolve_audience(self, action: ActionView) -> Sequence[Recipient]:
        """For ``audience = OWN`` channels: the recipients of a new or enlarged action's start message."""
        return ()

    def web_routes(self) -> Sequence[Any]:
        """aiohttp ``RouteDef`` values mounted under ``/v1/channels/<name>/`` (callbacks, webhooks, forms)."""
        return ()

    def describe(self) -> Mapping[str, Any]:
        """Non-secret facts for ``burgerhub plugins`` and the API (e.g. which provider adapter is active)."""
        return {}
