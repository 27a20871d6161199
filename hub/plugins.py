"""Building the plugin manager and collecting channels, one plugin at a time.

Built-in channels load through the same ``burgerhub`` entry-point group as third-party ones. A plugin
that fails to import or to register is reported in :class:`PluginReport` and skipped, unless
``strict`` is set.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from dataclasses import dataclass, field
from typing import Any, Iterable

import jsonschema
import pluggy

from . import hookspecs
from .channel import Channel
from .errors import PluginError

log = logging.getLogger("burgerhub.plugins")

ENTRY_POINT_GROUP = "burgerhub"


@dataclass
class PluginReport:
    """What loading found: the plugins loaded, and the ones skipped with the reason."""

    loaded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)


def make_plugin_manager(
    *,
    blocked: Iterable[str] = (),
    strict: bool = False,
    extra: Iterable[Any] = (),
    entry_points: bool = True,
) -> tuple[pluggy.PluginManager, PluginReport]:
    """A fresh plugin manager with every installed plugin loaded in isolation.

    ``blocked`` names entry points the operator disabled; ``extra`` are plugin objects registered
    directly (tests, embedding); ``strict`` turns a broken plugin into a :class:`PluginError`.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    report = PluginReport()
    blocked = set(blocked)
    if entry_points:
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in blocked:
                pm.set_blocked(ep.name)
                report.blocked.append(ep.name)
                continue
            if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
                continue
            try:
                plugin = ep.load()
                pm.register(plugin, name=ep.name)
            except Exception as e:  # one broken plugin must not take the hub down
                _fail(report, ep.name, f"{type(e).__name__}: {e}", strict, e)
                continue
            report.loaded.append(ep.name)
    for plugin in extra:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        try:
            pm.register(plugin, name=name if not pm.has_plugin(name) else None)
        except Exception as e:
            _fail(report, name, f"{type(e).__name__}: {e}", strict, e)
            continue
        report.loaded.append(name)
    return pm, report


def _fail(report: PluginReport, name: str, reason: str, strict: bool, cause: Exception) -> None:
    log.warning("plugin %s skipped: %s", name, reason)
    report.failed[name] = reason
    if strict:
        raise PluginError(f"plugin {name!r} failed: {reason}") from cause


def collect_channels(
    pm: pluggy.PluginManager, report: PluginReport | None = None, *, strict: bool = False
) -> dict[str, type[Channel]]:
    """Call every plugin's ``register_channels`` separately and return the valid channels by name."""
    report = report if report is not None else PluginReport()
    channels: dict[str, type[Channel]] = {}
    for impl in pm.hook.register_channels.get_hookimpls():
        plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
        found: dict[str, type[Channel]] = {}

        def register(cls: type[Channel], _found: dict = found) -> None:
            _check_channel_class(cls)
            if cls.name in channels or cls.name in _found:
                raise PluginError(f"channel {cls.name!r} is registered twice")
            _found[cls.name] = cls

        try:
            impl.function(register=register)
        except Exception as e:
            _fail(report, plugin_name, f"{type(e).__name__}: {e}", strict, e)
            continue
        channels.update(found)
    return channels


def _check_channel_class(cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Channel)):
        raise PluginError(f"{cls!r} is not a subclass of hub.channel.Channel")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise PluginError(f"{cls.__name__} needs a 'name' that is a Python identifier, got {name!r}")
    try:
        jsonschema.Draft202012Validator.check_schema(cls.settings_schema)
    except jsonschema.SchemaError as e:
        raise PluginError(f"channel {name!r} has an invalid settings_schema: {e.message}") from e
    if cls.deliver is Channel.deliver:
        raise PluginError(f"channel {name!r} does not implement deliver()")


def missing_requirements(cls: type[Channel]) -> list[str]:
    """The modules in ``cls.requirements`` that cannot be imported."""
    missing = []
    for module in cls.requirements:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    return missing
