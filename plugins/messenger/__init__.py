"""Messenger channel plugin: area subscriptions in a conversation, alerts through the Send API (see README.md)."""

from hub.hookspecs import hookimpl

from .channel import MessengerChannel

__all__ = ["MessengerChannel"]


@hookimpl
def register_channels(register):
    register(MessengerChannel)
