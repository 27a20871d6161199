"""``burgerhub voice render``: hear what a call will say, as a WAV file made with espeak-ng.

The script is the one a call uses (same templates, same digit-by-digit call-back number, same
repeat), spoken from SSML by ``espeak-ng -m``. espeak-ng is a system package
(``apt-get install espeak-ng``); without it the command stops with a clear message.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timezone
from pathlib import Path

import click

from hub.models import (
    DEFAULT_DOMAIN,
    ActionStatus,
    ActionType,
    ActionView,
    Circle,
    Domain,
    MessageKind,
    Notice,
    Result,
    SubjectKind,
    Urgency,
)
from hub.templates import MessageTemplates

from . import speech
from .channel import VoiceChannel

ESPEAK_TIMEOUT = 120.0


class SpeechError(Exception):
    """espeak-ng is missing or failed."""


async def synthesize(ssml: str, out: Path, *, voice: str, speed: int = 150, espeak: str | None = None) -> None:
    """Speak an SSML document into a WAV file with espeak-ng."""
    espeak = espeak or shutil.which("espeak-ng")
    if not espeak:
        raise SpeechError(
            "espeak-ng is not installed; install it (Debian/Ubuntu: apt-get install espeak-ng) to render speech"
        )
    proc = await asyncio.create_subprocess_exec(
        espeak, "-v", voice, "-s", str(speed), "-m", "--stdin", "-w", str(out),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(ssml.encode("utf-8")), ESPEAK_TIMEOUT)
    except asyncio.TimeoutError as e:
        proc.kill()
        await proc.wait()
        raise SpeechError(f"espeak-ng took longer than {ESPEAK_TIMEOUT:.0f} s") from e
    if proc.returncode != 0:
        raise SpeechError(f"espeak-ng failed ({proc.returncode}): {err.decode('utf-8', 'replace').strip()}")


def preview_notice(
    action_type: ActionType,
    description: str,
    *,
    kind: MessageKind = MessageKind.START,
    result: Result | None = None,
    callback_number: str = "0800 0011",
    reference: str = "DEMO01",
) -> Notice:
    """A notice for an imagined action, to hear a message before any action exists."""
    domain = DEFAULT_DOMAIN[action_type]
    urgency = Urgency.TIME_CRITICAL if domain in (Domain.TRACE, Domain.ALERT) else Urgency.NON_URGENT
    ended = kind is MessageKind.END
    action = ActionView(
        id=f"preview-{reference}",
        type=action_type,
        urgency=urgency,
        domain=domain,
        status=ActionStatus.ENDED if ended else ActionStatus.ACTIVE,
        title=description[:60],
        description=description,
        subject=SubjectKind.PERSON,
        area=Circle(lat=52.09, lon=5.11, radius_m=1000),
        result=(result or Result.ENDED_WITHOUT_RESULT) if ended else None,
        callback_number=callback_number,
        started_at=datetime.now(timezone.utc),
    )
    return Notice(action=action, kind=kind)


def _reference(value: str) -> str:
    if len(value) != 6 or not value.isalnum() or not value.isascii():
        raise click.BadParameter("six letters or digits, e.g. AB12CD")
    return value.upper()


@click.group("voice")
def voice() -> None:
    """Tools of the voice channel."""


@voice.command("render")
@click.option(
    "--type", "action_type", type=click.Choice([t.value for t in ActionType]), default="missing_person",
    show_default=True, help="The kind of action.",
)
@click.option("--description", required=True, help="What participants should look out for.")
@click.option("--language", type=click.Choice(sorted(speech.SAY_LANGUAGE)), default="nl", show_default=True)
@click.option("--kind", type=click.Choice([k.value for k in MessageKind]), default="start", show_default=True)
@click.option("--result", type=click.Choice([r.value for r in Result]), default=None, help="For --kind end.")
@click.option("--callback-number", default="0800 0011", show_default=True)
@click.option(
    "--reference", default="DEMO01", show_default=True, callback=lambda _c, _p, v: _reference(v),
    help="The action reference: six letters or digits, spelled out.",
)
@click.option("--repeat", type=click.IntRange(1, 3), default=2, show_default=True)
@click.option("--speed", type=click.IntRange(80, 300), default=150, show_default=True, help="Words per minute.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The WAV file to write.")
@click.option("--print-text", is_flag=True, help="Also print the spoken text.")
def render(
    action_type: str, description: str, language: str, kind: str, result: str | None, callback_number: str,
    reference: str, repeat: int, speed: int, out: Path, print_text: bool,
) -> None:
    """Render the spoken message of a voice call to a WAV file (needs espeak-ng)."""
    notice = preview_notice(
        ActionType(action_type), description, kind=MessageKind(kind), result=Result(result) if result else None,
        callback_number=callback_number, reference=reference,
    )
    script = speech.compose(MessageTemplates(VoiceChannel.templates_dir), notice, language, repeat=repeat)
    try:
        asyncio.run(synthesize(speech.espeak_ssml(script), out, voice=speech.ESPEAK_VOICE[script.language], speed=speed))
    except SpeechError as e:
        raise click.ClickException(str(e)) from e
    if print_text:
        click.echo(script.plain())
    click.echo(f"wrote {out}")
