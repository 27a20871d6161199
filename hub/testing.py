"""Test helpers for burgerhub and for channel plugin authors, shipped as a pytest plugin.

Installed with burgerhub (``pytest11`` entry point), so a third-party channel's tests get these
fixtures without any setup:

* ``channel_context`` - a factory ``channel_context(name, settings=..., sandbox=False)`` returning a
  :class:`~hub.channel.ChannelContext` backed by in-memory records, tips and receipts;
* ``sample_action`` - a factory of :class:`~hub.models.ActionView` values;
* ``deliveries`` - builds :class:`~hub.models.Delivery` batches for ``Channel.deliver``
  (:func:`make_deliveries`; ``sample_notice`` is :func:`make_notice`);
* ``recording_channel`` - :class:`RecordingChannel`, a participant channel that records what it is
  asked to deliver and fails on demand (register it with ``RecordingPlugin()``);
* ``make_hub`` - a factory of started hubs on a temporary folder (``async with make_hub(...) as hub``),
  on the backend ``hub_backend`` names ("sqlite" by default; override the fixture with
  ``params=BACKENDS`` to run a test on both);
* ``database_url`` - the ``[hub] database`` of the backend under test: "" for SQLite, else a new
  database on a private PostgreSQL server the session starts (``postgres_server``), never port 5432;
* the channel contract test (:mod:`hub.contract`), added to the session for the channels that the
  ``burgerhub_channels`` ini setting names (one line in a plugin's pytest configuration);
* :func:`registered` - a context manager that registers a plugin on a plugin manager for one block;
* :func:`started` - an async context manager that starts and always closes a channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import itertools
import json
import logging
import socket
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Iterator, Mapping, Sequence

import pytest

from .channel import AudienceKind, Channel, ChannelContext, Contact
from .errors import PermanentDeliveryError, TransientDeliveryError
from .hookspecs import hookimpl
from .models import (
    ActionStatus,
    ActionType,
    ActionView,
    Circle,
    Delivery,
    DEFAULT_DOMAIN,
    MessageKind,
    Notice,
    Photo,
    Receipt,
    ReceiptStatus,
    Recipient,
    Result,
    SubjectKind,
    Tip,
    Urgency,
)
from .templates import MessageTemplates


class MemoryRecords:
    """An in-memory :class:`~hub.channel.RecordStore`."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    async def get(self, key: str) -> dict[str, Any] | None:
        value = self.data.get(key)
        return dict(value) if value is not None else None

    async def put(self, key: str, value: dict[str, Any]) -> None:
        self.data[key] = dict(value)

    async def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None

    async def scan(self, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        return sorted((k, dict(v)) for k, v in self.data.items() if k.startswith(prefix))


class CollectingTips:
    """A :class:`~hub.channel.TipSink` that keeps tips in a list."""

    async def submit(self, tip: Tip) -> str:
        self.tips.append(tip)
        return f"tip-{len(self.tips)}"

    async def action_for(self, address: str) -> str | None:
        return self.actions.get(address)

    def __init__(self) -> None:
        self.tips: list[Tip] = []
        #: address -> action id, for ``action_for``; tests fill it in
        self.actions: dict[str, str] = {}


@dataclass
class CollectingReceipts:
    """A :class:`~hub.channel.ReceiptSink` that keeps status callbacks in a list."""

    updates: list[tuple[str, ReceiptStatus, str | None, bool]] = field(default_factory=list)
    #: the ``retry_after`` hint of each update, in the same order
    retry_afters: list[float | None] = field(default_factory=list)

    async def update(
        self,
        provider_id: str,
        status: ReceiptStatus,
        reason: str | None = None,
        *,
        permanent: bool = True,
        retry_after: float | None = None,
    ) -> int:
        self.updates.append((provider_id, status, reason, permanent))
        self.retry_afters.append(retry_after)
        return 1


class CollectingOptOuts:
    """An :class:`~hub.channel.OptOuts` that remembers who opted out."""

    def __init__(self) -> None:
        self.opted_out: list[str] = []

    async def opt_out(self, participant_id: str) -> bool:
        self.opted_out.append(participant_id)
        return True

    async def opt_out_address(self, address: str) -> bool:
        self.opted_out.append(address)
        return True


def make_context(
    name: str,
    settings: Mapping[str, Any] | None = None,
    *,
    sandbox: bool = False,
    channel_cls: type[Channel] | None = None,
    public_url: str = "http://127.0.0.1:8080",
    secret: bytes = b"test-secret-test-secret-test-sec",
    identify: Any = None,
) -> ChannelContext:
    """A channel context on in-memory collaborators; inspect ``context.tips.tips`` etc. in tests."""
    return ChannelContext(
        name=name,
        settings=dict(settings or {}),
        sandbox=sandbox,
        secret=secret,
        public_url=public_url,
        records=MemoryRecords(),
        tips=CollectingTips(),
        receipts=CollectingReceipts(),
        templates=MessageTemplates(channel_cls.templates_dir if channel_cls else None),
        optouts=CollectingOptOuts(),
        logger=logging.getLogger(f"burgerhub.channel.{name}"),
        identify=identify,
    )


def make_action(**overrides: Any) -> ActionView:
    """A time-critical missing-person action in Utrecht, overridable field by field."""
    kind = overrides.pop("type", ActionType.MISSING_PERSON)
    kind = ActionType(kind)
    base = ActionView(
        id=overrides.pop("id", "act-01HZX0TEST7Q2K"),
        type=kind,
        urgency=Urgency(overrides.pop("urgency", Urgency.TIME_CRITICAL)),
        domain=DEFAULT_DOMAIN[kind],
        status=ActionStatus.ACTIVE,
        title="Jongen van 5 vermist",
        description="Jongen van 5 jaar, rode jas, blauwe broek, blond haar. Laatst gezien bij het station.",
        subject=SubjectKind.PERSON,
        area=Circle(lat=52.0894, lon=5.1100, radius_m=1500),
        region="utrecht",
        photos=(Photo(url="https://img.example.org/boy.jpg", caption="Foto"),),
        started_at=datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc),
    )
    if overrides.get("status") == ActionStatus.ENDED or "result" in overrides:
        overrides.setdefault("status", ActionStatus.ENDED)
        overrides.setdefault("result", Result.FOUND)
    return replace(base, **overrides)


_ids = itertools.count(1)


def make_deliveries(
    addresses: Sequence[str],
    *,
    channel: str,
    kind: MessageKind = MessageKind.START,
    action_id: str = "act-01HZX0TEST7Q2K",
    language: str = "nl",
    attempt: int = 1,
) -> list[Delivery]:
    """One delivery per address, with fresh ids."""
    return [
        Delivery(
            id=next(_ids),
            action_id=action_id,
            channel=channel,
            kind=kind,
            recipient=Recipient(address=a, participant_id=f"p-{i}", language=language),
            attempt=attempt,
        )
        for i, a in enumerate(addresses)
    ]


def make_notice(kind: MessageKind = MessageKind.START, **action_overrides: Any) -> Notice:
    if kind is MessageKind.END:
        action_overrides.setdefault("result", Result.FOUND)
    return Notice(action=make_action(**action_overrides), kind=kind)


@contextlib.contextmanager
def registered(pm: Any, plugin: Any, name: str | None = None) -> Iterator[Any]:
    """Register ``plugin`` on ``pm`` for the duration of the block."""
    pm.register(plugin, name=name)
    try:
        yield plugin
    finally:
        pm.unregister(plugin)


@contextlib.asynccontextmanager
async def started(channel: Channel) -> AsyncIterator[Channel]:
    """Start a channel and always close it."""
    try:
        await channel.start()
        yield channel
    finally:
        await channel.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("burgerhub_channels", type="linelist", default=[],
                  help="burgerhub: channels (entry-point names, or *) to run the shipped channel contract test on")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Add the shipped contract test (:mod:`hub.contract`) when ``burgerhub_channels`` names channels.

    ``tryfirst``: the tests are in place before ``-k``/``-m`` deselect (they see them like any other).
    """
    if not config.getini("burgerhub_channels"):
        return
    from pathlib import Path

    from . import contract

    module = pytest.Module.from_parent(session, path=Path(contract.__file__))
    items.extend(session.genitems(module))


def matches(pattern: str, text: str) -> bool:
    return fnmatch.fnmatchcase(text, pattern)


@pytest.fixture
def channel_context():
    return make_context


@pytest.fixture
def sample_action():
    return make_action


@pytest.fixture
def sample_notice():
    return make_notice


@pytest.fixture
def deliveries():
    return make_deliveries


# -- a fake channel and a hub factory ------------------------------------------------------------



class RecordingChannel(Channel):
    """A participant channel (SMS-like, by mobile number) that records what it is asked to deliver.

    Class attributes steer it from tests: ``fail`` maps an address to an exception to raise for it
    (a :class:`TransientDeliveryError` once, then success; a :class:`PermanentDeliveryError` always),
    ``delay`` slows each batch, and ``delivered`` collects ``(kind, address, text)``.
    """

    name = "recording"
    title = "Records deliveries (tests)"
    settings_schema = {
        "type": "object",
        "properties": {"token": {"type": "string", "private": True}},
        "additionalProperties": False,
    }
    credentials = ("token",)
    audience = AudienceKind.PARTICIPANTS
    contact = Contact.MOBILE
    batch_size = 50
    concurrency = 4

    delivered: list[tuple[str, str, str]] = []
    fail: dict[str, Exception] = {}
    delay: float = 0.0

    async def deliver(self, notice: Notice, deliveries: Sequence[Delivery]) -> Sequence[Receipt]:
        if self.delay:
            await asyncio.sleep(self.delay)
        out = []
        for d in deliveries:
            err = type(self).fail.get(d.recipient.address)
            if isinstance(err, TransientDeliveryError):
                type(self).fail.pop(d.recipient.address)
                out.append(Receipt.failed(d, err))
                continue
            if isinstance(err, PermanentDeliveryError):
                out.append(Receipt.failed(d, err))
                continue
            text = self.render(notice, d.recipient).text
            type(self).delivered.append((d.kind.value, d.recipient.address, text))
            out.append(Receipt.sent(d, provider_id=f"rec-{d.id}"))
        return out

    @classmethod
    def reset(cls) -> None:
        cls.delivered = []
        cls.fail = {}
        cls.delay = 0.0


class RecordingPlugin:
    """Registers :class:`RecordingChannel` (pass an instance as ``plugins=[RecordingPlugin()]``)."""

    __name__ = "recording"

    @hookimpl
    def register_channels(self, register) -> None:
        register(RecordingChannel)


@pytest.fixture
def recording_channel():
    RecordingChannel.reset()
    yield RecordingChannel
    RecordingChannel.reset()


#: the backends a test can run on: ``@pytest.fixture(params=BACKENDS) def hub_backend(request): ...``
BACKENDS = ("sqlite", "postgresql")
_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres_server():
    """A private PostgreSQL server for the test session, in a temporary folder on a free port."""
    from .store.pgserver import PostgresNotFound, PrivatePostgres

    try:
        server = PrivatePostgres().start()
    except PostgresNotFound as e:
        pytest.skip(f"PostgreSQL is not installed: {e}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hub_backend() -> str:
    return "sqlite"


@pytest.fixture
def database_url(request, hub_backend) -> str:
    if hub_backend == "sqlite":
        return ""
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"test_{next(_databases)}")


@pytest.fixture
def make_hub(tmp_path, database_url):
    """A factory of started hubs on a temporary data folder: ``async with make_hub(...) as hub``.

    Keyword arguments: ``plugins`` (extra plugin objects), ``entry_points`` (load installed plugins,
    default False), ``config`` (a dict in the TOML file's shape), ``engine`` (start delivering, default True).
    """
    from .config import config_from_dict
    from .hub import Hub

    counter = itertools.count()

    @contextlib.asynccontextmanager
    async def factory(*, plugins=(), entry_points=False, config=None, engine=True, data_dir=None):
        data = {k: dict(v) for k, v in (config or {}).items()}
        data.setdefault("hub", {})
        data["hub"].setdefault("data_dir", str(data_dir or tmp_path / f"hub{next(counter)}"))
        if database_url:
            data["hub"].setdefault("database", database_url)
        data.setdefault("engine", {}).setdefault("backoff_base", 0.05)
        data["engine"].setdefault("poll_interval", 0.05)
        hub = Hub(config_from_dict(data), plugins=plugins, entry_points=entry_points)
        await hub.start(engine=engine)
        try:
            yield hub
        finally:
            await hub.stop()

    return factory


def bound_socket() -> tuple[socket.socket, str]:
    """A socket bound to a free loopback port, and the URL it will answer on (see :func:`serving`)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.asynccontextmanager
async def serving(hub: Any, sock: Any) -> AsyncIterator[None]:
    """Serve ``hub``'s web app (API, channel callbacks, console) on an already bound socket.

    Bind the socket first so the hub's ``public_url`` can name its port before the hub starts::

        sock, public_url = bound_socket()
        config = {"hub": {"public_url": public_url}, ...}
        async with make_hub(config=config) as hub, serving(hub, sock): ...
    """
    from aiohttp import web

    from .api import create_app

    runner = web.AppRunner(create_app(hub, manage_hub=False), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def read_events(resp: Any, count: int, timeout: float = 5.0) -> list[tuple[str, Any]]:
    """Read ``count`` server-sent events as (event name, decoded JSON data) from an open response."""
    import json

    out: list[tuple[str, Any]] = []
    name, data = None, []

    async def read() -> None:
        nonlocal name, data
        while len(out) < count:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and name:
                out.append((name, json.loads("\n".join(data))))
                name, data = None, []

    await asyncio.wait_for(read(), timeout)
    return out


# -- configuration files for hubs in processes of their own --------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def toml_text(data: dict[str, dict[str, Any]]) -> str:
    """A TOML file of ``[section]``, ``[section.table]`` and ``[[section.array]]`` entries."""
    lines: list[str] = []
    for section, entries in data.items():
        lines.append(f"[{section}]")
        later: list[tuple[str, dict[str, Any]]] = []
        for key, value in entries.items():
            if isinstance(value, dict):
                later.append((f"[{section}.{key}]", value))
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                later.extend((f"[[{section}.{key}]]", item) for item in value)
            else:
                lines.append(f"{key} = {_toml_value(value)}")
        for header, items in later:
            lines.append(header)
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in items.items())
        lines.append("")
    return "\n".join(lines)


def tiny_image(kind: str = "image/jpeg", width: int = 2, height: int = 2) -> bytes:
    """The smallest well-formed header of an image of ``kind`` and size, for photo tests (not decodable
    pixels: the hub reads types and sizes, it never decodes a picture)."""
    import struct
    import zlib

    if kind == "image/png":
        def chunk(tag: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 4)) + chunk(b"IEND", b"")
    if kind == "image/jpeg":
        app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
        return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"
    if kind == "image/webp":
        body = b"VP8X" + struct.pack("<I", 10) + b"\x00" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body
    if kind == "image/gif":
        return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"
    raise ValueError(f"no tiny image of type {kind}")


def channel_routes_app(name: str, routes: Any) -> Any:
    """A web app with a channel's ``routes`` mounted where the hub mounts them (``/v1/channels/<name>/``),
    behind the hub's error middleware, so a plugin's tests see the answers the hub gives."""
    from aiohttp import web

    from .api.errors import error_middleware
    from .api.guard import nosniff

    app = web.Application(middlewares=[error_middleware])
    app.on_response_prepare.append(nosniff)
    sub = web.Application()
    sub.add_routes(routes)
    app.add_subapp(f"/v1/channels/{name}/", sub)
    return app
