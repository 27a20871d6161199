"""The channel contract test, shipped with burgerhub for every channel, built-in or third-party.

A channel package runs it with one line in its pytest configuration::

    [tool.pytest.ini_options]
    burgerhub_channels = ["pager"]        # entry-point names; "*" checks every installed channel

burgerhub's pytest plugin (:mod:`hub.testing`, installed with burgerhub) then adds these tests to the
session, parametrized over the named channels. They check the name and entry point, the settings
schema (``{}`` must be valid: the sandbox), how the channel reaches people, rendering of every message
kind in both languages, web routes, and an own audience in the sandbox. With a provider fixture they
also run ``deliver`` against a provider on 127.0.0.1 that answers

* 429 with a retry hint in ``Retry-After`` and in the JSON body: the failure must be transient and
  carry the provider's hint (``retry_after``), so the hub waits at least that long;
* nothing at all (a timeout): transient, and within the channel's own timeout;
* 400 with a reason: permanent, never retried.

The provider fixture says how to point the channel at a URL::

    import pytest
    from hub.contract import ProviderTarget

    @pytest.fixture
    def burgerhub_provider():
        return ProviderTarget(settings=lambda url, timeout: {"url": url, "api_key": "k", "timeout": timeout},
                              address="duty-officer")

(or a mapping of channel names to targets), in the ``conftest.py`` at the project's root: fixtures of a
conftest in a sub-folder reach only the tests in that folder. Without it, the ``deliver`` checks are
skipped with the reason. The tests are marked for pytest-asyncio, so they run in its strict and auto modes alike.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import jsonschema
import pytest
from aiohttp import web

from .channel import AudienceKind, Channel, Contact
from .errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from .models import RESULTS_BY_TYPE, Delivery, MessageKind, Notice, Recipient, Rendered
from .plugins import ENTRY_POINT_GROUP, PluginReport, collect_channels, make_plugin_manager
from .testing import make_action, make_context, started

INI = "burgerhub_channels"
RETRY_AFTER = 7
TIMEOUT = 1.0
ADDRESSES = {Contact.MOBILE: "+31612345678", Contact.PHONE: "+31302345678", Contact.EMAIL: "ann@example.net"}


@dataclass(frozen=True)
class ProviderTarget:
    """How to point a channel at the contract's provider: ``settings(url, timeout)`` gives the channel's
    settings (credentials included, so it is not in the sandbox), ``address`` one recipient's address."""

    settings: Callable[[str, float], Mapping[str, Any]]
    address: str | None = None


def installed() -> tuple[dict[str, type[Channel]], PluginReport]:
    pm, report = make_plugin_manager()
    return collect_channels(pm, report), report


def selected(config: pytest.Config) -> dict[str, type[Channel]]:
    """The channels ``burgerhub_channels`` names (every installed one for ``*`` or when unset)."""
    names = [n for line in config.getini(INI) for n in line.replace(",", " ").split()]
    channels, _ = installed()
    if not names or "*" in names:
        return channels
    return {n: channels[n] for n in names if n in channels}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "channel_cls" in metafunc.fixturenames:
        chosen = selected(metafunc.config)
        metafunc.parametrize("channel_cls", list(chosen.values()), ids=list(chosen))


# -- the plugin is there ----------------------------------------------------------------------------


def test_the_named_channels_are_installed_and_load(request):
    names = [n for line in request.config.getini(INI) for n in line.replace(",", " ").split() if n != "*"]
    channels, report = installed()
    failed = {n: r for n, r in report.failed.items() if not names or n in names}
    assert failed == {}, f"plugins failed to load: {failed}"
    missing = [n for n in names if n not in channels]
    assert not missing, f"not installed (no entry point in the {ENTRY_POINT_GROUP!r} group): {missing}"
    assert channels, "no channel registered at all"


def test_name_matches_entry_point_and_folder(channel_cls):
    names = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert channel_cls.name in names, f"{channel_cls.name!r} is not an entry-point name in {ENTRY_POINT_GROUP!r}"
    module = channel_cls.__module__
    if module.startswith("plugins."):
        assert module.split(".")[1] == channel_cls.name


def test_settings_schema_is_valid_and_names_its_credentials(channel_cls):
    jsonschema.Draft202012Validator.check_schema(channel_cls.settings_schema)
    props = channel_cls.settings_schema.get("properties", {})
    for key in channel_cls.credentials:
        assert key in props, f"credential {key!r} missing from settings_schema"
    # an empty settings object is valid: every channel must be able to run in the sandbox
    jsonschema.Draft202012Validator(channel_cls.settings_schema).validate({})


def test_declares_how_it_reaches_people(channel_cls):
    assert channel_cls.audience in set(AudienceKind)
    if channel_cls.audience is AudienceKind.PARTICIPANTS:
        assert channel_cls.contact in set(Contact)
    assert channel_cls.batch_size >= 1 and channel_cls.concurrency >= 1


@pytest.mark.asyncio
@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("kind", list(MessageKind))
async def test_renders_every_kind_in_both_languages(channel_cls, kind, language):
    channel = channel_cls(make_context(channel_cls.name, sandbox=True, channel_cls=channel_cls))
    async with started(channel):
        action = make_action()
        if kind is MessageKind.END:
            action = make_action(result=RESULTS_BY_TYPE[action.type][0])
        rendered = channel.render(Notice(action=action, kind=kind), Recipient(address="x", language=language))
    assert isinstance(rendered, Rendered)
    assert rendered.text.strip()


@pytest.mark.asyncio
async def test_web_routes_are_aiohttp_route_defs(channel_cls):
    channel = channel_cls(make_context(channel_cls.name, sandbox=True, channel_cls=channel_cls))
    for route in channel.web_routes():
        assert isinstance(route, web.AbstractRouteDef)


@pytest.mark.asyncio
async def test_own_audience_resolves_in_the_sandbox(channel_cls):
    if channel_cls.audience is not AudienceKind.OWN:
        pytest.skip("participant channel")
    channel = channel_cls(make_context(channel_cls.name, sandbox=True, channel_cls=channel_cls))
    async with started(channel):
        recipients = await channel.resolve_audience(make_action())
    assert all(isinstance(r, Recipient) for r in recipients)


# -- deliver against a misbehaving provider ---------------------------------------------------------


class Provider:
    """An HTTP provider on 127.0.0.1 that answers every request the way ``mode`` says."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        await request.read()
        if self.mode == "429":
            body = {"status": 429, "code": 20429, "message": f"Too many requests: retry after {RETRY_AFTER} seconds",
                    "retry_after": RETRY_AFTER}
            return web.json_response(body, status=429, headers={"Retry-After": str(RETRY_AFTER)})
        if self.mode == "timeout":
            await asyncio.sleep(3600)
        body = {"status": 400, "code": 21211, "message": "The recipient is not valid and never will be"}
        return web.json_response(body, status=400)

    async def __aenter__(self) -> "Provider":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def _target(request: pytest.FixtureRequest, name: str) -> ProviderTarget:
    """The ``burgerhub_provider`` fixture's target for ``name`` (skips the test without one)."""
    try:
        provided = request.getfixturevalue("burgerhub_provider")
    except pytest.FixtureLookupError:
        provided = None
    target = provided.get(name) if isinstance(provided, Mapping) else provided
    if target is None:
        pytest.skip(f"no burgerhub_provider fixture for {name!r}: define one to run the deliver checks")
    return target


async def _failure(channel_cls: type[Channel], target: ProviderTarget, provider: Provider) -> DeliveryError:
    settings = dict(target.settings(provider.url, TIMEOUT))
    context = make_context(channel_cls.name, settings, sandbox=False, channel_cls=channel_cls)
    address = target.address or ADDRESSES.get(getattr(channel_cls, "contact", None), "recipient-1")
    delivery = Delivery(id=1, action_id="act-01HZX0TEST7Q2K", channel=channel_cls.name, kind=MessageKind.START,
                        recipient=Recipient(address=address, participant_id="p-1", language="nl"))
    channel = channel_cls(context)
    async with started(channel):
        try:
            receipts = await channel.deliver(Notice(action=make_action(), kind=MessageKind.START), [delivery])
        except DeliveryError as e:
            return e
    assert provider.requests, "the channel never called the provider (are its settings pointing at it?)"
    [receipt] = receipts
    assert receipt.delivery_id == delivery.id
    assert isinstance(receipt.error, DeliveryError), f"expected a failed receipt with a typed error, got {receipt}"
    return receipt.error


@pytest.mark.asyncio
async def test_deliver_after_429_is_transient_with_the_providers_retry_hint(channel_cls, request):
    target = _target(request, channel_cls.name)
    async with Provider("429") as provider:
        error = await _failure(channel_cls, target, provider)
    assert isinstance(error, TransientDeliveryError), f"a 429 is always safe to retry, got {error!r}"
    assert error.retry_after is not None and error.retry_after >= RETRY_AFTER - 0.5, (
        f"the provider said retry after {RETRY_AFTER} s (Retry-After and body); the error says {error.retry_after}")


@pytest.mark.asyncio
async def test_deliver_that_times_out_is_transient_and_bounded(channel_cls, request):
    target = _target(request, channel_cls.name)
    async with Provider("timeout") as provider:
        began = time.monotonic()
        error = await asyncio.wait_for(_failure(channel_cls, target, provider), TIMEOUT * 10 + 5)
        took = time.monotonic() - began
    assert isinstance(error, TransientDeliveryError), f"a timeout is ambiguous, so retried: got {error!r}"
    assert took < TIMEOUT * 10 + 5


@pytest.mark.asyncio
async def test_deliver_with_a_permanent_error_is_never_retried(channel_cls, request):
    target = _target(request, channel_cls.name)
    async with Provider("400") as provider:
        error = await _failure(channel_cls, target, provider)
    assert isinstance(error, PermanentDeliveryError), f"a 400 will fail again: got {error!r}"
    assert str(error), "the cause of a failure is data: say why"

