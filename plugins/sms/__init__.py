"""The SMS channel plugin: alerts to participants' mobile numbers via Twilio or CM.com."""

from hub.hookspecs import hookimpl

from .channel import SmsChannel

__all__ = ["SmsChannel", "register_channels"]


@hookimpl
def register_channels(register):
    register(SmsChannel)
