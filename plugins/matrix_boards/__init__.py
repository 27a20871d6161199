"""Matrix signs and bus/tram tickers over MQTT: the ``matrix_boards`` channel and the ``burgerhub sign``
reference controller. See README.md for the public topic and payload contract."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from hub.hookspecs import hookimpl

from .channel import MatrixBoardsChannel

if TYPE_CHECKING:
    import click

    from hub.channel import Channel

__all__ = ["MatrixBoardsChannel"]


@hookimpl
def register_channels(register: "Callable[[type[Channel]], None]") -> None:
    register(MatrixBoardsChannel)


@hookimpl
def register_commands(cli: "click.Group") -> None:
    from .controller import sign_command

    cli.add_command(sign_command)
