"""The hub: plugins, channels, store, rules, audience index and engine, wired together.

:class:`Hub` is built synchronously (plugins loaded, settings validated, channels constructed, so the
web app can mount their routes) and started asynchronously (store opened, channels started, index
loaded, engine running). Nothing here is global: tests build as many hubs as they like.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any, Iterable, Mapping

import jsonschema

from .actions import ActionService, Actor, to_view
from .audience import AudienceIndex
from .channel import Channel, ChannelContext
from .config import Config, ensure_secret
from .duties import Duties
from .engine import ChannelRuntime, DeliveryEngine
from .expiry import ExpirySweeper
from .fallback import AppFirst
from .errors import ConfigError, PluginError
from .evaluation.keeper import FigureKeeper
from .metrics import HubMetrics
from .models import ActionEvent
from .organisations import Organisations
from .photo_circulation import PhotoCirculation
from .cap import CapService
from .plugins import PluginReport, collect_channels, make_plugin_manager, missing_requirements
from .ratelimit import RateLimiter, SharedRateLimiter
from .retention import RetentionSweeper
from .registry import ParticipantRegistry
from .routing import RuleHolder
from .rules_cluster import ClusterRules
from .sinks import StoreActions, StoreOptOuts, StoreReceipts, StoreRecords, StoreTips
from .store.select import open_store
from .templates import MessageTemplates
from .verification import Verifier

log = logging.getLogger("burgerhub")


class Hub:
    def __init__(
        self,
        config: Config,
        *,
        plugins: Iterable[Any] = (),
        entry_points: bool = True,
        store=None,
    ):
        self.config = config
        self.metrics = HubMetrics()
        self.pm, self.plugin_report = make_plugin_manager(
            blocked=config.blocked_plugins, strict=config.strict_plugins, extra=plugins, entry_points=entry_points
        )
        self.channel_classes = collect_channels(self.pm, self.plugin_report, strict=config.strict_plugins)
        self.store = store or open_store(config.database, config.database_path)
        if hasattr(self.store, "clock_offset"):
            self.metrics.watch_clock(lambda: self.store.clock_offset)
        self.shared = bool(getattr(self.store, "shared", False))
        self.secret = shared_secret(config) if self.shared else ensure_secret(config)
        #: once-only work (sweeps, a channel's republishing): one process of a cluster does it
        self.duties = Duties(config.database if self.shared else None)
        self.duties.want("sweeps")
        registry_opts = {"snapshot_path": config.data_dir / "audience.snapshot"} if self.shared else {}
        self.registry = ParticipantRegistry(self.store, AudienceIndex(), self.metrics, **registry_opts)
        self.rules = RuleHolder.from_path(self._routes_path(), known_channels=None)
        #: on a cluster, the rules in force are the version stored for every hub
        self.cluster_rules = ClusterRules(self)
        self.unavailable: dict[str, str] = {}
        self.runtimes: dict[str, ChannelRuntime] = {}
        self._tip_listeners: set[asyncio.Queue] = set()
        self.api_tips = StoreTips(self.store, "api", self.tip_stored)
        #: callables ``f(app)`` that add routes to the web app (the dispatcher console uses this)
        self.web_extensions: list = []
        self._build_channels()
        self.actions = ActionService(self)
        #: codes and links that prove contacts, sign-up and sign-in (hub.verification)
        self.verifier = Verifier(
            store=self.store, registry=self.registry, secret=self.secret, runtimes=self.runtimes,
            public_url=config.public_url, network_name=config.network_name,
        )
        #: whether the public still sees an action's photo (not once the action has ended)
        self.photo_circulation = PhotoCirculation(self.store)
        #: organisations that issue actions, and their people's tokens
        self.organisations = Organisations(self.store)
        #: CAP 1.2 in and out
        self.cap = CapService(self)
        self.engine = DeliveryEngine(
            self.store, self.runtimes, self._load_view, config.engine, metrics=self.metrics,
            single_node=not self.shared, duties=self.duties,
            hold=AppFirst(self.store, config.app_first_seconds).hold if config.app_first_seconds > 0 else None,
        )
        #: removes what ended actions leave behind after the retention period (a "sweeps" duty)
        self.retention = RetentionSweeper(self.store, config.retention, lambda: self.duties.holds("sweeps"))
        #: ends actions whose expires_at has passed (on a cluster: the holder of the "sweeps" duty)
        self.expiry = ExpirySweeper(self)
        self.started = False
        self._engine_running = False
        self.keeper = FigureKeeper(self.store, lambda: self.duties.holds("sweeps"))

    @property
    def audience(self) -> AudienceIndex:
        """The in-memory index of every participant's addresses, kept current by the registry."""
        return self.registry.index

    def _routes_path(self):
        """The configured rules file; else rules saved through the API; else the shipped defaults."""
        return self.config.rules_in_force

    def save_rules(self):
        """Persist the rules in force where they will be read at the next start."""
        target = self.rules.path if self.rules.writable else self.config.data_dir / "routes.yaml"
        self.rules.path = self.rules.save(target)
        return self.rules.path

    # -- channels --------------------------------------------------------------------------
    def channel_secret(self, name: str) -> bytes:
        return hmac.new(self.secret, f"channel:{name}".encode(), hashlib.sha256).digest()

    def _build_channels(self) -> None:
        settings_problems: list[str] = []
        self._build_each_channel(settings_problems)
        if settings_problems and self.config.strict_plugins:
            # every mistake in the file at once, not one per start
            where = f"{self.config.source}: " if self.config.source else ""
            lines = "\n".join(f"  - {p}" for p in settings_problems)
            raise ConfigError(f"{where}invalid channel settings:\n{lines}")

    def _build_each_channel(self, settings_problems: list[str]) -> None:
        for name, cls in sorted(self.channel_classes.items()):
            engine_opts, settings = self.config.channel_settings(name)
            if engine_opts.get("enabled", True) is False:
                self.unavailable[name] = "disabled by configuration"
                continue
            missing = missing_requirements(cls)
            if missing:
                self.unavailable[name] = f"missing Python packages: {', '.join(missing)}"
                continue
            found = sorted(jsonschema.Draft202012Validator(cls.settings_schema).iter_errors(settings),
                           key=lambda e: [str(p) for p in e.absolute_path])
            if found:
                reasons = [f"channels.{name}.{'.'.join(str(p) for p in e.absolute_path) or '(settings)'}: {e.message}"
                           for e in found]
                settings_problems.extend(reasons)
                log.error("channel %s disabled: %s", name, "; ".join(reasons))
                self.unavailable[name] = f"invalid settings: {'; '.join(reasons)}"
                continue
            sandbox = bool(engine_opts.get("sandbox", False)) or not any(settings.get(k) for k in cls.credentials)
            context = ChannelContext(
                name=name,
                settings=settings,
                sandbox=sandbox,
                secret=self.channel_secret(name),
                public_url=self.config.public_url,
                records=StoreRecords(self.store, name),
                tips=StoreTips(self.store, name, self.tip_stored),
                receipts=StoreReceipts(self.store, name, wake=lambda n=name: self.engine.wake([n])),
                templates=MessageTemplates(cls.templates_dir, defaults={
                    "network": self.config.network_name, "callback_number": self.config.callback_number,
                    "police_number": self.config.police_number}),
                optouts=StoreOptOuts(self.registry, name),
                logger=logging.getLogger(f"burgerhub.channel.{name}"),
                network_name=self.config.network_name,
                callback_number=self.config.callback_number,
                duty=lambda n=name: self.duties.holds(f"channel:{n}"),
                identify=self.registry.by_token,
                cap=_HubCap(self),
                actions=StoreActions(self.store, name),
            )
            self.duties.want(f"channel:{name}")
            try:
                channel = cls(context)
            except Exception as e:
                self.unavailable[name] = f"failed to build: {type(e).__name__}: {e}"
                if self.config.strict_plugins:
                    raise PluginError(self.unavailable[name]) from e
                continue
            # A channel may set these per instance (a bulk adapter takes larger batches).
            rate = engine_opts.get("rate", channel.rate)
            self.runtimes[name] = ChannelRuntime(
                name=name,
                channel=channel,
                sandbox=sandbox,
                concurrency=int(engine_opts.get("concurrency", channel.concurrency)),
                batch_size=int(engine_opts.get("batch_size", channel.batch_size)),
                limiter=self._limiter(name, rate) if rate and not sandbox else None,
                exclusive=bool(getattr(channel, "exclusive", False)),
            )

    def _limiter(self, name: str, rate: float):
        # a provider account's limit is one limit for every process on a shared store
        return SharedRateLimiter(self.store, name, rate) if self.shared else RateLimiter(rate)

    def channel_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, rt in self.runtimes.items():
            out[name] = {
                "status": "running" if self.started else "ready",
                "mode": "sandbox" if rt.sandbox else "provider",
                "title": rt.channel.title,
                "audience": rt.channel.audience.value,
                "concurrency": rt.concurrency,
                "batch_size": rt.batch_size,
                **dict(rt.channel.describe()),
            }
        for name, reason in self.unavailable.items():
            out[name] = {"status": "unavailable", "reason": reason}
        for name, reason in self.plugin_report.failed.items():
            out.setdefault(name, {"status": "unavailable", "reason": f"plugin failed to load: {reason}"})
        return dict(sorted(out.items()))

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, *, engine: bool = True) -> None:
        """Open the store, start the channels, load participants and, with ``engine``, start delivering."""
        await self.store.open()
        try:
            await self._join(engine)
        except BaseException:
            await self.store.close()
            raise
        for name, rt in list(self.runtimes.items()):
            try:
                await rt.channel.start()
            except Exception as e:
                log.error("channel %s failed to start: %s", name, e)
                self.unavailable[name] = f"failed to start: {type(e).__name__}: {e}"
                del self.runtimes[name]
                self.engine.runtimes.pop(name, None)
                try:
                    await rt.channel.close()
                except Exception:
                    log.exception("channel %s failed to close", name)
                if self.config.strict_plugins:
                    raise PluginError(self.unavailable[name]) from e
        self.rules.known_channels = set(self.channel_classes)
        await self.cluster_rules.start()
        if gaps := self.rules.current.gaps():
            log.warning("the routing rules in force send %d action type/urgency combinations to no channel at all: %s",
                        len(gaps), ", ".join(f"{t}/{u}" for t, u in gaps))
        for name, rt in self.runtimes.items():
            self.metrics.channel_up.labels(name, "sandbox" if rt.sandbox else "provider").set(1)
        await self.registry.load()
        await self.registry.follow()
        if engine:
            await self.engine.start()
            await self.retention.start()
            await self.expiry.start()
            await self.keeper.start()
        self._engine_running = engine
        self.started = True

    async def _join(self, engine: bool) -> None:
        """Take this process's place beside the others on the store: on SQLite, the one serving
        process; on PostgreSQL, a member with a heartbeat, wake-ups and duties."""
        if engine and not self.shared:
            self.store.lock_serving()
        if not self.shared:
            return
        await self.store.join(self.engine.owner)
        await self.store.listen("ledger", lambda channel: self.engine.wake([channel]))
        await self.store.listen("tips", self._tip_notified)
        await self.store.listen("participants", lambda _: self.registry.poke())
        if engine:
            await self.duties.start()

    def _tip_notified(self, payload: str) -> None:
        action_id, _, tip_id = payload.rpartition(" ")
        if action_id and tip_id.isdigit():
            self.tip_arrived(action_id, int(tip_id))

    async def stop(self) -> None:
        await self.cluster_rules.stop()
        await self.retention.stop()
        await self.expiry.stop()
        await self.verifier.close()
        await self.keeper.stop()
        if self.started and self._engine_running:
            await self.engine.stop()
        await self.duties.stop()
        for name, rt in self.runtimes.items():
            try:
                await rt.channel.close()
            except Exception:
                log.exception("channel %s failed to close", name)
        await self.registry.stop_following()
        if self.started:
            await self.registry.close()  # saves the audience index snapshot if it changed
        await self.store.close()
        self.started = False

    async def __aenter__(self) -> "Hub":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # -- glue ------------------------------------------------------------------------------
    async def _load_view(self, action_id: str):
        data = await self.store.get_action(action_id)
        return to_view(data) if data else None

    def call_observers(self, event: ActionEvent) -> None:
        self.metrics.actions.labels(event.kind.value, event.action.type.value, event.action.urgency.value).inc()
        for impl in self.pm.hook.action_event.get_hookimpls():
            try:
                impl.function(event=event)
            except Exception:
                log.exception("plugin %s failed in action_event", self.pm.get_name(impl.plugin))

    def tip_stored(self, action_id: str, tip_id: int) -> None:
        """This process wrote tip ``tip_id`` for ``action_id`` to the store. On a shared store the
        store's notification reaches every process, this one included: that is the one path, so
        nothing is told here. On SQLite the listeners are told directly."""
        if not self.shared:
            self.tip_arrived(action_id, tip_id)

    def tip_arrived(self, action_id: str, tip_id: int) -> None:
        """Tell this process's tip listeners (event streams) that ``tip_id`` arrived for ``action_id``."""
        for q in list(self._tip_listeners):
            q.put_nowait((action_id, tip_id))

    def subscribe_tips(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize=1000)
        self._tip_listeners.add(q)
        return q

    def unsubscribe_tips(self, q: asyncio.Queue) -> None:
        self._tip_listeners.discard(q)


class _HubCap:
    """CAP documents for channels, read when a message is delivered (the hub's CAP service is built
    after the channels)."""

    def __init__(self, hub: "Hub") -> None:
        self._hub = hub

    async def cap_document(self, action_id: str, version: int) -> bytes:
        return await self._hub.cap.document_of(action_id, version)


def shared_secret(config: Config) -> bytes:
    """The signing secret of a cluster: configured (``[hub] secret`` or ``BURGERHUB_SECRET``), else
    generated once and kept in the shared database, so every process signs and checks alike."""
    if config.secret:
        return config.secret
    import secrets

    from .shared import shared_values

    return shared_values(config.database, {"secret": secrets.token_hex(32)})["secret"].encode()
