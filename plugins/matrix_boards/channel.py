"""The ``matrix_boards`` channel: actions on municipal matrix signs and bus/tram tickers, over MQTT.

The hub's default routing sends only missing-person actions here. Signs are third-party controllers
subscribed to a broker; the topics and payloads they read are a public, versioned contract (see
:mod:`.contract` and the README). The channel's recipients are regions (``Recipient.address`` is a
region id); each region's current state - every action active there, laid out for its signs - is a
retained message, so a controller that boots later shows the right text at once.

A region's state is kept in the channel's durable records, and the broker is told again on every
(re)connect: Mosquitto without persistence forgets retained messages when it restarts, and a hub
restart must not blank or freeze the signs. A state change is saved before it is published, so a
broker outage delays it but never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from hub.channel import AudienceKind, Channel, ChannelContext
from hub.errors import ConfigError, PermanentDeliveryError, PluginError, TransientDeliveryError
from hub.models import ActionStatus, ActionView, Delivery, MessageKind, Notice, Receipt, Recipient, Rendered

from . import contract
from .contract import Layout, SignText, Topics
from .regions import Region, region_id

if TYPE_CHECKING:
    from .link import MqttLink

HERE = Path(__file__).parent
LANGUAGES = ("nl", "en")
RECORD_PREFIX = "region/"
#: how long an ended action is remembered, so a late retry of its start cannot put it back on a sign
TOMBSTONE_TTL = timedelta(days=7)
SWEEP_INTERVAL_S = 30.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class RegionState:
    """What one region's signs show, as stored in the channel's records."""

    region: str
    sequence: int = 0
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)  # action id -> snapshot
    ended: dict[str, str] = field(default_factory=dict)  # action id -> when it ended (ISO 8601)

    @classmethod
    def load(cls, region: str, record: Mapping[str, Any] | None) -> "RegionState":
        if not record:
            return cls(region)
        return cls(region, int(record.get("sequence", 0)), dict(record.get("actions", {})), dict(record.get("ended", {})))

    def dump(self) -> dict[str, Any]:
        return {"region": self.region, "sequence": self.sequence, "actions": self.actions, "ended": self.ended}

    def apply(self, notice: Notice, now: datetime) -> bool:
        """Apply one notice; ``True`` if the set of active actions or their content changed.

        Retries are harmless: a start or update of an action that already ended, or older than the
        version shown, changes nothing.
        """
        action = notice.action
        if notice.kind == MessageKind.END or action.status == ActionStatus.ENDED:
            self.ended[action.id] = now.isoformat()
            return self.actions.pop(action.id, None) is not None
        if action.id in self.ended:
            return False
        current = self.actions.get(action.id)
        if current is not None and int(current.get("version", 1)) > action.version:
            return False
        snapshot = contract.action_to_record(action)
        if snapshot == current:
            return False
        self.actions[action.id] = snapshot
        return True

    def prune(self, now: datetime) -> bool:
        """Drop expired actions (``True`` if any) and forget old tombstones."""
        expired = [
            aid for aid, snap in self.actions.items()
            if snap.get("expires_at") and contract.aware(datetime.fromisoformat(snap["expires_at"])) <= now
        ]
        for aid in expired:
            del self.actions[aid]
            self.ended[aid] = now.isoformat()
        horizon = now - TOMBSTONE_TTL
        for aid, when in list(self.ended.items()):
            if contract.aware(datetime.fromisoformat(when)) < horizon:
                del self.ended[aid]
        return bool(expired)


class MatrixBoardsChannel(Channel):
    name = "matrix_boards"
    title = "Matrix signs and bus/tram tickers over MQTT (missing persons)"
    settings_schema = json.loads((HERE / "settings.schema.json").read_text(encoding="utf-8"))
    credentials = ("host",)
    requirements = ("paho.mqtt.client",)
    audience = AudienceKind.OWN
    contact = None
    # one delivery is one region; a batch shares one notice, so regions of one action go together
    batch_size = 100
    exclusive = True  # a region's state and sequence number: one hub of a cluster publishes
    concurrency = 4
    templates_dir = HERE / "templates"

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        s = self.settings
        self.topics = Topics(s.get("topic_prefix", "burgerhub"))
        self.layout = Layout(
            lines=s.get("lines", 3),
            width=s.get("width", 28),
            language=s.get("language", "nl"),
            uppercase=s.get("uppercase", False),
            ticker_max=s.get("ticker_max", 280),
        )
        self.regions: dict[str, Region] = {}
        for item in s.get("regions", ()):
            region = Region.from_settings(item)
            if region.id in self.regions:
                raise ConfigError(f"channels.{self.name}.regions: {region.id!r} is listed twice")
            self.regions[region.id] = region
        self.link: MqttLink | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        return not self.context.sandbox and bool(self.settings.get("host"))

    @property
    def tls_enabled(self) -> bool:
        s = self.settings
        return bool(s.get("tls") or s.get("ca_file") or s.get("cert_file"))

    async def start(self) -> None:
        """Start connecting to the broker in the background; the hub starts even if it is down."""
        if not self.live:
            return
        from .link import BrokerConfig, MqttLink

        s = self.settings
        tls = None
        if self.tls_enabled:
            try:
                tls = await asyncio.to_thread(self._tls_context)
            except (OSError, ssl.SSLError, ValueError) as e:
                raise PluginError(f"{self.name}: cannot set up TLS: {e}") from e
        config = BrokerConfig(
            host=s["host"],
            port=s.get("port", 8883 if tls else 1883),
            username=s.get("username"),
            password=s.get("password"),
            client_id=s.get("client_id", ""),
            keepalive=s.get("keepalive", 60),
            protocol=s.get("protocol", "5"),
            tls=tls,
            connect_timeout=s.get("connect_timeout", 10.0),
            reconnect_min_delay=s.get("reconnect_min_delay", 0.5),
            reconnect_max_delay=s.get("reconnect_max_delay", 5.0),
            will=(self.topics.status, contract.status_payload(contract.STATUS_OFFLINE)),
        )
        self.link = MqttLink(config, on_connect=self._republish, logger=self.context.logger)
        await self.link.start()
        self._sweeper = asyncio.create_task(self._sweep(), name=f"{self.name} expiry sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self.link is not None:
            offline = contract.status_payload(contract.STATUS_OFFLINE, utcnow())
            await self.link.close(final=(self.topics.status, offline))
            self.link = None

    def _tls_context(self) -> ssl.SSLContext:
        s = self.settings
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=s.get("ca_file"))
        if s.get("cert_file"):
            ctx.load_cert_chain(s["cert_file"], s.get("key_file"), password=s.get("key_password"))
        if s.get("tls_insecure"):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    # -- audience and layout -----------------------------------------------------------------------

    def layout_for(self, region: str) -> Layout:
        r = self.regions.get(region)
        if r is None:
            return self.layout
        return Layout(
            lines=r.lines or self.layout.lines,
            width=r.width or self.layout.width,
            language=r.language or self.layout.language,
            uppercase=self.layout.uppercase,
            ticker_max=self.layout.ticker_max,
        )

    async def resolve_audience(self, action: ActionView) -> Sequence[Recipient]:
        """The configured regions whose area meets the action's area, plus the action's own region."""
        own = region_id(action.region) if action.region else None
        chosen = [r.id for r in self.regions.values() if r.id == own or r.meets(action.area)]
        if own and own not in chosen:
            chosen.append(own)
        return [
            Recipient(
                address=rid,
                language=self.layout_for(rid).language,
                meta={"region": rid, **({"name": self.regions[rid].name} if rid in self.regions and self.regions[rid].name else {})},
            )
            for rid in chosen
        ]

    def sign_text(self, action: ActionView, kind: MessageKind, fmt: Layout) -> SignText:
        variables = {"action": action, "kind": kind.value, "ref": action.reference}
        short = self.context.templates.render("sign.txt.j2", fmt.language, variant="short", **variables)
        long = self.context.templates.render("sign.txt.j2", fmt.language, variant="long", **variables)
        return contract.lay_out(short, long, fmt)

    def render(self, notice: Notice, recipient: Recipient) -> Rendered:
        """What the region's signs show for this notice (after an end: the closing text of the event)."""
        region = region_id(recipient.address) or recipient.address
        fmt = self.layout_for(region)
        if recipient.language in LANGUAGES and recipient.language != fmt.language:
            fmt = replace(fmt, language=recipient.language)
        text = self.sign_text(notice.action, notice.kind, fmt)
        return Rendered(
            text="\n".join(text.short),
            subject=self.topics.state(region),
            extra={"topic": self.topics.state(region), "short": text.short, "long": text.long, "ticker": text.ticker},
        )

    def state_message(self, state: RegionState, now: datetime) -> bytes:
        fmt = self.layout_for(state.region)
        include_photo = self.settings.get("include_photo", True)
        actions = contract.newest_first(contract.action_from_record(s) for s in state.actions.values())
        blocks = [
            contract.action_block(a, self.sign_text(a, MessageKind.START, fmt), fmt, include_photo=include_photo)
            for a in actions
        ]
        return contract.state_payload(state.region, state.sequence, blocks, fmt, now)

    def event_message(self, state: RegionState, notice: Notice, now: datetime) -> bytes:
        fmt = self.layout_for(state.region)
        kind = MessageKind.END if notice.kind == MessageKind.END else MessageKind.START
        block = contract.action_block(
            notice.action, self.sign_text(notice.action, kind, fmt), fmt,
            include_photo=self.settings.get("include_photo", True),
        )
        return contract.event_payload(state.region, state.sequence, notice.kind, block, notice.action.result, fmt, now)

    # -- delivery ----------------------------------------------------------------------------------

    def _lock(self, region: str) -> asyncio.Lock:
        lock = self._locks.get(region)
        if lock is None:
            lock = self._locks[region] = asyncio.Lock()
        return lock

    async def _load(self, region: str) -> RegionState:
        return RegionState.load(region, await self.context.records.get(RECORD_PREFIX + region))

    async def _apply(self, region: str, notice: Notice, now: datetime) -> tuple[list[asyncio.Future[None]], int]:
        """Save the region's new state, then queue its publication; the futures resolve on PUBACK."""
        assert self.link is not None
        async with self._lock(region):
            state = await self._load(region)
            changed = state.apply(notice, now)
            expired = state.prune(now)
            if changed or expired:
                state.sequence += 1
            await self.context.records.put(RECORD_PREFIX + region, state.dump())
            futures = [self.link.publish(self.topics.state(region), self.state_message(state, now), retain=True)]
            if changed and self.settings.get("events", True):
                futures.append(self.link.publish(self.topics.events(region), self.event_message(state, notice, now)))
            return futures, state.sequence

    async def deliver(self, notice: Notice, deliveries: Sequence[Delivery]) -> Sequence[Receipt]:
        """Update each region's retained state and wait for the broker's acknowledgements."""
        from .link import LinkClosed, PublishRefused

        if self.link is None:
            raise PermanentDeliveryError("no MQTT broker configured (settings.host)", code="not_configured")
        receipts: list[Receipt] = []
        groups: dict[str, list[Delivery]] = {}
        for d in deliveries:
            rid = region_id(d.recipient.address)
            if rid is None:
                receipts.append(Receipt.failed(d, PermanentDeliveryError(
                    f"{d.recipient.address!r} is not a region id", code="bad_region")))
                continue
            groups.setdefault(rid, []).append(d)
        now = utcnow()
        pending: list[tuple[str, list[Delivery], list[asyncio.Future[None]], int]] = []
        try:
            for rid, group in groups.items():
                futures, sequence = await self._apply(rid, notice, now)
                pending.append((rid, group, futures, sequence))
        except LinkClosed as e:
            raise TransientDeliveryError("the channel is shutting down", code="closing") from e
        timeout = float(self.settings.get("publish_timeout", 15.0))
        futures = [f for *_, fs, _ in pending for f in fs]
        if futures:
            _, not_acked = await asyncio.wait(futures, timeout=timeout)
            if not_acked:
                cause = self.link.last_error or "no acknowledgement"
                raise TransientDeliveryError(
                    f"MQTT broker did not acknowledge within {timeout:g} s ({cause}); "
                    "the sign state is saved and goes out as soon as the broker is back",
                    code="broker_unavailable",
                    retry_after=max(5.0, timeout),
                )
        for rid, group, fs, sequence in pending:
            errors = [f.exception() for f in fs if f.exception() is not None]
            refused = next((e for e in errors if isinstance(e, PublishRefused)), None)
            if refused is not None:
                error = PermanentDeliveryError(str(refused), code="broker_refused")
                error.__cause__ = refused
                receipts.extend(Receipt.failed(d, error) for d in group)
                continue
            if errors:
                raise TransientDeliveryError(f"MQTT publish failed: {errors[0]}", code="broker_unavailable") from errors[0]
            topic = self.topics.state(rid)
            receipts.extend(Receipt.sent(d, f"{topic}#{sequence}", topic=topic, sequence=sequence) for d in group)
        return receipts

    async def _republish(self) -> None:
        """On every (re)connect: announce "online" and publish every region's full current state."""
        assert self.link is not None
        now = utcnow()
        self.link.publish(self.topics.status, contract.status_payload(contract.STATUS_ONLINE, now), retain=True)
        if not self.context.duty():
            return  # another hub process of the cluster republishes the regions' state
        stored = {key[len(RECORD_PREFIX):] for key, _ in await self.context.records.scan(RECORD_PREFIX)}
        for rid in sorted(stored | set(self.regions)):
            async with self._lock(rid):
                state = await self._load(rid)
                if state.prune(now):
                    state.sequence += 1
                    await self.context.records.put(RECORD_PREFIX + rid, state.dump())
                self.link.publish(self.topics.state(rid), self.state_message(state, now), retain=True)

    async def _sweep(self) -> None:
        """Take expired actions off the signs, in case their end never comes."""
        held = self.context.duty()
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            if not self.context.duty():
                held = False
                continue  # another hub process of the cluster sweeps
            if not held and self.link is not None:
                held = True
                try:  # taken over from a process that stopped: the signs get the full state again
                    await self._republish()
                except Exception:
                    self.context.logger.exception("%s: republishing after taking over failed", self.name)
            try:
                await self.sweep_expired()
            except Exception:
                self.context.logger.exception("%s: expiry sweep failed", self.name)

    async def sweep_expired(self, now: datetime | None = None) -> list[str]:
        """Republish regions that had an expired action; returns their ids."""
        assert self.link is not None
        now = now or utcnow()
        swept = []
        for key, _ in await self.context.records.scan(RECORD_PREFIX):
            rid = key[len(RECORD_PREFIX):]
            async with self._lock(rid):
                state = await self._load(rid)
                if not state.prune(now):
                    continue
                state.sequence += 1
                await self.context.records.put(key, state.dump())
                self.link.publish(self.topics.state(rid), self.state_message(state, now), retain=True)
                swept.append(rid)
        return swept

    def describe(self) -> Mapping[str, Any]:
        s = self.settings
        out: dict[str, Any] = {
            "topic_prefix": self.topics.root,
            "regions": len(self.regions),
            "layout": f"{self.layout.lines}x{self.layout.width}",
        }
        if self.live:
            out["broker"] = f"{s['host']}:{s.get('port', 8883 if self.tls_enabled else 1883)}"
            out["tls"] = self.tls_enabled
        if self.link is not None:
            out["connected"] = self.link.connected
            out["queued"] = self.link.queued
            if self.link.last_error:
                out["last_error"] = self.link.last_error
        return out
