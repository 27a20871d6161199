"""The ``twitter`` channel: one X account per province, updates and the ending in the action's thread."""

from hub.hookspecs import hookimpl

from .channel import TwitterChannel

__all__ = ["TwitterChannel"]


@hookimpl
def register_channels(register):
    register(TwitterChannel)
