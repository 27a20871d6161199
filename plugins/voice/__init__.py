"""The voice channel plugin: text-to-speech calls via a Twilio-compatible Calls API, and ``burgerhub voice``."""

from hub.hookspecs import hookimpl

from .channel import VoiceChannel

__all__ = ["VoiceChannel", "register_channels", "register_commands"]


@hookimpl
def register_channels(register):
    register(VoiceChannel)


@hookimpl
def register_commands(cli):
    from .cli import voice

    cli.add_command(voice)
