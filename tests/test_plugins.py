"""Loading plugins: built-ins and third parties alike, broken ones reported and skipped, hooks honoured."""

from __future__ import annotations

import importlib.metadata
import inspect
import re
from pathlib import Path

import click
import pytest

from hub import hookspecs
from hub.channel import Channel
from hub.errors import PluginError
from hub.hookspecs import hookimpl
from hub.plugins import ENTRY_POINT_GROUP, collect_channels, make_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "burgerhub_spec")]


class Broken:
    __name__ = "broken"

    @hookimpl
    def register_channels(self, register):
        raise RuntimeError("boom")


class NotAChannel:
    __name__ = "not_a_channel"

    @hookimpl
    def register_channels(self, register):
        register(object)


class BadSchema:
    __name__ = "bad_schema"

    @hookimpl
    def register_channels(self, register):
        class Bad(Channel):
            name = "bad"
            settings_schema = {"type": "nonsense"}

            async def deliver(self, notice, deliveries):
                return []

        register(Bad)


class Good:
    __name__ = "good"

    @hookimpl
    def register_channels(self, register):
        class Fine(Channel):
            name = "fine"

            async def deliver(self, notice, deliveries):
                return []

        register(Fine)


def test_builtin_channels_load_through_the_entry_point_group():
    names = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    folders = {p.parent.name for p in (ROOT / "plugins").glob("*/__init__.py")}
    assert folders <= names, f"plugin folders without an entry point: {folders - names}"
    pm, report = make_plugin_manager()
    assert set(report.loaded) == names
    assert set(collect_channels(pm, report)) == names


def test_a_broken_plugin_is_reported_and_skipped():
    pm, report = make_plugin_manager(entry_points=False, extra=[Broken(), NotAChannel(), BadSchema(), Good()])
    channels = collect_channels(pm, report)
    assert set(channels) == {"fine"}
    assert "boom" in report.failed["broken"]
    assert "not a subclass" in report.failed["not_a_channel"]
    assert "invalid settings_schema" in report.failed["bad_schema"]


def test_strict_mode_makes_a_broken_plugin_fatal():
    pm, report = make_plugin_manager(entry_points=False, extra=[Broken()])
    with pytest.raises(PluginError, match="boom"):
        collect_channels(pm, report, strict=True)


def test_registering_one_name_twice_is_refused():
    pm, report = make_plugin_manager(entry_points=False, extra=[Good()])
    second = Good()
    second.__name__ = "good2"
    pm.register(second, name="good2")
    channels = collect_channels(pm, report)
    assert list(channels) == ["fine"]
    assert "registered twice" in report.failed["good2"]


def test_blocked_plugins_are_not_loaded():
    pm, report = make_plugin_manager(blocked=["webhook"])
    assert "webhook" in report.blocked
    assert "webhook" not in collect_channels(pm, report)


def test_plugins_add_cli_commands_through_register_commands():
    class Commands:
        __name__ = "commands"

        @hookimpl
        def register_commands(self, cli):
            @cli.command("hello")
            def hello():
                click.echo("hi")

    group = click.Group("burgerhub")
    pm, _ = make_plugin_manager(entry_points=False, extra=[Commands()])
    pm.hook.register_commands(cli=group)
    assert "hello" in group.commands


async def test_action_event_observers_see_start_and_end(make_hub, recording_channel):
    from hub.testing import RecordingPlugin

    seen = []

    class Observer:
        __name__ = "observer"

        @hookimpl
        def action_event(self, event):
            seen.append((event.kind.value, event.action.id))

    class Crashing:
        __name__ = "crashing"

        @hookimpl
        def action_event(self, event):
            raise RuntimeError("observer bug")

    async with make_hub(plugins=[RecordingPlugin(), Observer(), Crashing()]) as hub:
        from hub.actions import Actor

        who = Actor("t", "dispatcher")
        action = await hub.actions.start(
            {"type": "burglary", "urgency": "time_critical", "description": "man, black hoodie",
             "area": {"type": "circle", "lat": 52.09, "lon": 5.11, "radius_m": 500}}, who)
        await hub.actions.end(action["id"], {"result": "arrested"}, who)
    assert seen == [("start", action["id"]), ("end", action["id"])]


def test_every_hook_is_documented():
    readme = (ROOT / "README.md").read_text()
    for name in HOOKS:
        spec = getattr(hookspecs, name)
        doc = inspect.getdoc(spec) or ""
        assert "Return" in doc, f"hook {name} does not state its return contract"
        assert name in readme, f"hook {name} is not in the README"


def test_every_hook_has_a_test():
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    sources += "\n".join(p.read_text() for p in (ROOT / "plugins").glob("*/tests/test_*.py"))
    for name in HOOKS:
        assert re.search(rf"def {name}\(", sources), f"no test implements hook {name}"
