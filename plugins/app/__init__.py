"""The ``app`` channel: Web Push to installed apps, which decide on the device whether they are in the area."""

from hub.hookspecs import hookimpl

from .channel import AppChannel

__all__ = ["AppChannel"]


@hookimpl
def register_channels(register):
    register(AppChannel)
