"""Every hook a burgerhub plugin can implement, typed and documented in one place.

Hooks are for registration and observation only. All I/O lives in async :class:`~hub.channel.Channel`
methods, because pluggy calls hooks synchronously.

A plugin is a module or object with functions decorated by :data:`hookimpl`, exposed through the
``burgerhub`` entry-point group::

    [project.entry-points.burgerhub]
    my_channel = "my_package.my_channel"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    import click

    from .channel import Channel
    from .models import ActionEvent

PROJECT = "burgerhub"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_channels(register: "Callable[[type[Channel]], None]") -> None:
    """Register channel classes by calling ``register(ChannelClass)`` once per channel.

    Return nothing; the return value is ignored. ``register`` raises
    :class:`~hub.errors.PluginError` for a class that breaks the contract (no ``name``, a name
    registered twice, an invalid ``settings_schema``); the hub reports that plugin and skips it.
    """


@hookspec
def register_commands(cli: "click.Group") -> None:
    """Add sub-commands to the ``burgerhub`` command line by calling ``cli.command()`` or ``cli.add_command()``.

    Return nothing; the return value is ignored. Called once when the CLI starts.
    """


@hookspec
def action_event(event: "ActionEvent") -> None:
    """Observe an action's start, update or end, after it has been committed and its deliveries queued.

    Return nothing; the return value is ignored. Called on the event loop: do no blocking work here
    (schedule it). An exception is logged and does not affect the action.
    """
