"""One contract test, parametrized over every registered channel: a new plugin is checked the day it appears."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import jsonschema
import pytest
from aiohttp import web

from hub.channel import AudienceKind, Channel, Contact
from hub.models import Delivery, MessageKind, Recipient, Rendered, Result
from hub.plugins import ENTRY_POINT_GROUP, collect_channels, make_plugin_manager
from hub.testing import make_action, make_context, started

pm, report = make_plugin_manager()
CHANNELS = collect_channels(pm, report)


def test_every_installed_plugin_loaded():
    assert report.failed == {}, report.failed
    assert CHANNELS, "no channel registered at all"


@pytest.fixture(params=sorted(CHANNELS), ids=sorted(CHANNELS))
def channel_cls(request) -> type[Channel]:
    return CHANNELS[request.param]


def test_name_matches_entry_point_and_folder(channel_cls):
    names = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert channel_cls.name in names
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


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("kind", list(MessageKind))
async def test_renders_every_kind_in_both_languages(channel_cls, kind, language):
    ctx = make_context(channel_cls.name, sandbox=True, channel_cls=channel_cls)
    channel = channel_cls(ctx)
    async with started(channel):
        action = make_action(result=Result.FOUND) if kind is MessageKind.END else make_action()
        from hub.models import Notice

        rendered = channel.render(Notice(action=action, kind=kind), Recipient(address="x", language=language))
    assert isinstance(rendered, Rendered)
    assert rendered.text.strip()


async def test_web_routes_are_aiohttp_route_defs(channel_cls):
    channel = channel_cls(make_context(channel_cls.name, sandbox=True, channel_cls=channel_cls))
    for route in channel.web_routes():
        assert isinstance(route, web.AbstractRouteDef)


async def test_own_audience_resolves_in_the_sandbox(channel_cls):
    if channel_cls.audience is not AudienceKind.OWN:
        pytest.skip("participant channel")
    channel = channel_cls(make_context(channel_cls.name, sandbox=True, channel_cls=channel_cls))
    async with started(channel):
        recipients = await channel.resolve_audience(make_action())
    assert all(isinstance(r, Recipient) for r in recipients)
