"""E-mail channel plugin: SMTP mails with a reply form and one-click unsubscribe (see README.md)."""

from hub.hookspecs import hookimpl

from .channel import EmailChannel

__all__ = ["EmailChannel"]


@hookimpl
def register_channels(register):
    register(EmailChannel)
