"""What a call says, as data, and its two spellings: TwiML for the provider, SSML for espeak-ng.

A :class:`Script` is the core's ``long`` text split into parts. The call-back number becomes a
:class:`Digits` part, read digit by digit and slowly (a comma after each digit, a pause between the
groups, and an SSML ``prosody rate="slow"``); the action reference becomes a :class:`Spelled` part.
The whole message is read ``repeat`` times with a pause and a "repeat" phrase in between.

Both serializers build XML with :mod:`xml.etree.ElementTree`, so dispatcher text can never break
the markup.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Iterable, Union

from hub.models import Notice

#: the hub's languages -> BCP 47 tags for ``<Say language=...>`` and espeak-ng voices
SAY_LANGUAGE = {"nl": "nl-NL", "en": "en-GB"}
ESPEAK_VOICE = {"nl": "nl", "en": "en-gb"}
DEFAULT_LANGUAGE = "nl"

DIGIT_GROUP_PAUSE_MS = 400
REPEAT_PAUSE_S = 1


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Digits:
    """A phone number: groups of digits as written (``0800 0011`` -> ``("0800", "0011")``)."""

    groups: tuple[str, ...]

    @classmethod
    def parse(cls, number: str) -> "Digits":
        groups = tuple(g for g in re.split(r"[\s\-./]+", number.strip()) if g)
        return cls(groups or (number,))

    def spoken(self) -> list[str]:
        """Each group as digits separated by commas: ``0, 8, 0, 0``."""
        return [", ".join(group) for group in self.groups]


@dataclass(frozen=True, slots=True)
class Spelled:
    """Read character by character (the action reference)."""

    text: str


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float


@dataclass(frozen=True, slots=True)
class Prompt:
    """What the listener may press (after the first read); the key presses go to the menu's action."""

    text: str


Part = Union[Text, Digits, Spelled, Pause, Prompt]


@dataclass(frozen=True, slots=True)
class Script:
    language: str  # the hub's language code: nl, en
    parts: tuple[Part, ...]

    @property
    def say_language(self) -> str:
        return SAY_LANGUAGE.get(self.language, SAY_LANGUAGE[DEFAULT_LANGUAGE])

    def plain(self) -> str:
        """The script as plain text, numbers as written (for previews, logs and the sandbox)."""
        chunks = []
        for part in self.parts:
            if isinstance(part, (Text, Prompt)):
                chunks.append(part.text if isinstance(part, Text) else f" {part.text} ")
            elif isinstance(part, Digits):
                chunks.append(" ".join(part.groups))
            elif isinstance(part, Spelled):
                chunks.append(part.text)
            else:
                chunks.append(" ")
        return " ".join("".join(chunks).split())


def split_message(text: str, callback_number: str, reference: str) -> list[Part]:
    """Split one read of the message, marking the call-back number and the reference."""
    needles = sorted({n for n in (callback_number, reference) if n}, key=len, reverse=True)
    if not needles:
        return [Text(text)]
    pattern = re.compile("|".join(re.escape(n) for n in needles))
    parts: list[Part] = []
    pos = 0
    for m in pattern.finditer(text):
        if m.start() > pos:
            parts.append(Text(text[pos : m.start()]))
        parts.append(Digits.parse(m.group()) if m.group() == callback_number else Spelled(m.group()))
        pos = m.end()
    if pos < len(text):
        parts.append(Text(text[pos:]))
    return parts


def compose(templates: Any, notice: Notice, language: str, *, repeat: int = 2, menu: bool = False) -> Script:
    """The script of a call: the core's long text, read ``repeat`` times; with ``menu``, what the
    listener may press follows the first read (1: put through to the call-back number, 2: again)."""
    language = language if language in SAY_LANGUAGE else DEFAULT_LANGUAGE
    action = notice.action
    message = " ".join(templates.text(notice, language, variant="long").split())
    once = split_message(message, action.callback_number, action.reference)
    parts: list[Part] = list(once)
    if menu:
        prompt = " ".join(templates.render("voice_menu.txt.j2", language, dial=can_dial(notice)).split())
        parts.append(Prompt(prompt))
    for _ in range(max(1, repeat) - 1):
        parts.append(Pause(REPEAT_PAUSE_S))
        parts.append(Text(templates.render("voice_repeat.txt.j2", language) + " "))
        parts.extend(once)
    parts.append(Pause(REPEAT_PAUSE_S))
    parts.append(Text(templates.render("voice_goodbye.txt.j2", language)))
    return Script(language=language, parts=tuple(parts))


def can_dial(notice: Notice) -> bool:
    """Whether "press 1" puts the listener through: for calls that ask people to look out and call back
    (not for a crisis, nor for the closing message)."""
    return notice.action.type.value != "crisis" and notice.kind.value != "end" and bool(dial_digits(notice))


def dial_digits(notice: Notice) -> str:
    """The call-back number as ``<Dial>`` takes it (digits and a leading +)."""
    number = notice.action.callback_number.strip()
    return ("+" if number.startswith("+") else "") + re.sub(r"[^0-9]", "", number)


# -- serializers -----------------------------------------------------------------------------


def _append_text(parent: ET.Element, text: str) -> None:
    """Append character data to ``parent`` after its last child (ElementTree keeps it in ``tail``)."""
    if len(parent):
        last = parent[-1]
        last.tail = (last.tail or "") + text
    else:
        parent.text = (parent.text or "") + text


def _speak_into(parent: ET.Element, parts: Iterable[Part], ssml: bool) -> None:
    for part in parts:
        if isinstance(part, (Text, Prompt)):
            _append_text(parent, part.text if isinstance(part, Text) else f" {part.text} ")
        elif isinstance(part, Digits):
            groups = part.spoken()
            if not ssml:  # a full stop between the groups makes plain voices pause there
                _append_text(parent, ". ".join(groups))
                continue
            prosody = ET.SubElement(parent, "prosody", rate="slow")
            for i, group in enumerate(groups):
                if i:
                    ET.SubElement(prosody, "break", time=f"{DIGIT_GROUP_PAUSE_MS}ms")
                _append_text(prosody, group)
        elif isinstance(part, Spelled):
            if ssml:
                ET.SubElement(parent, "say-as", {"interpret-as": "characters"}).text = part.text
            else:
                _append_text(parent, ", ".join(part.text))


GATHER_SECONDS = 4


def twiml(script: Script, *, voice: str | None = None, ssml: bool = True, menu_action: str | None = None) -> str:
    """TwiML ``<Response>`` with one ``<Say>`` per read and ``<Pause>`` between them.

    A script with a :class:`Prompt` has its first read and the prompt inside a ``<Gather>`` (one DTMF
    digit, posted to ``menu_action``), so the listener may press a key while the message plays; without
    a key the call goes on with the repeat and the goodbye.
    """
    response = ET.Element("Response")
    attrs = {"language": script.say_language}
    if voice:
        attrs["voice"] = voice
    parent = response
    if menu_action and any(isinstance(p, Prompt) for p in script.parts):
        parent = ET.SubElement(response, "Gather", {
            "input": "dtmf", "numDigits": "1", "timeout": str(GATHER_SECONDS), "action": menu_action,
            "method": "POST", "actionOnEmptyResult": "false"})
    say: ET.Element | None = None
    for part in script.parts:
        if isinstance(part, Prompt):
            ET.SubElement(parent, "Say", attrs).text = part.text
            parent, say = response, None
            continue
        if isinstance(part, Pause):
            ET.SubElement(response, "Pause", length=str(max(1, round(part.seconds))))
            say = None
            continue
        if say is None:
            say = ET.SubElement(parent, "Say", attrs)
        _speak_into(say, [part], ssml)
    for element in response.iter("Say"):
        element.text = (element.text or "").lstrip()
    body = ET.tostring(response, encoding="unicode", short_empty_elements=True)
    return '<?xml version="1.0" encoding="UTF-8"?>' + body


def espeak_ssml(script: Script) -> str:
    """An SSML ``<speak>`` document for ``espeak-ng -m`` with the same pauses, digits and spelling."""
    speak = ET.Element("speak", {"xml:lang": ESPEAK_VOICE.get(script.language, "nl")})
    for part in script.parts:
        if isinstance(part, Pause):
            ET.SubElement(speak, "break", time=f"{int(part.seconds * 1000)}ms")
        else:
            _speak_into(speak, [part], True)
    return ET.tostring(speak, encoding="unicode")
