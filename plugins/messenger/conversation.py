"""What a person means by a Messenger message: subscribe to an area, stop, status, help, or a tip.

Pure functions of the text, so they are easy to test and to extend. Subscribing needs the whole
message to be an area (``3511 AB``, ``Utrecht``, ``aanmelden Utrecht 5 km``, ``subscribe 1012``): a
tip like "I saw him near the station in Utrecht" must never move someone's subscription.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from .places import Place, lookup, normalize

MIN_RADIUS_M = 500.0


class IntentKind(enum.StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    STATUS = "status"
    HELP = "help"
    UNKNOWN_PLACE = "unknown_place"  # meant to subscribe, but the area is not known
    OTHER = "other"  # anything else: a tip, a thank-you, a question


@dataclass(frozen=True, slots=True)
class Intent:
    kind: IntentKind
    place: Place | None = None
    radius_m: float | None = None
    query: str = ""


_STOP = {"stop", "stoppen", "afmelden", "uitschrijven", "opzeggen", "unsubscribe", "stop alles", "stop berichten"}
_STATUS = {"status", "gebied", "mijn gebied", "area", "my area", "instellingen", "settings"}
_HELP = {"help", "hulp", "info", "informatie", "menu", "start", "get started", "aan de slag", "hallo", "hoi",
         "goedendag", "hi", "hello", "hey", "?", ""}
_SUBSCRIBE_PREFIX = re.compile(
    r"^(?:ik wil (?:me |mij )?(?:aanmelden|berichten)(?: voor| in| uit| rond)?|aanmelden(?: voor| in| rond)?|"
    r"abonneren(?: op)?|volg|volgen|berichten (?:voor|uit|in|rond)|"
    r"subscribe(?: to| for)?|follow|alerts? (?:for|in|near))\s+"
)
_RADIUS = re.compile(r"(?:^|\s)(?:(?:straal|radius|binnen|within)\s+)?(\d{1,2}(?:\s\d)?)\s*(?:km|kilometer|kilometers)$")
_POSTCODE_LIKE = re.compile(r"^\d{4}")

_EN = {"subscribe", "unsubscribe", "help", "hello", "hi", "hey", "please", "area", "my", "follow", "within",
       "thanks", "thank", "you", "the", "i", "saw", "near", "alerts", "alert", "for", "settings"}
_NL = {"aanmelden", "afmelden", "hulp", "hallo", "hoi", "graag", "gebied", "mijn", "ik", "zag", "de", "het",
       "een", "bij", "binnen", "voor", "volg", "berichten", "dank", "bedankt", "stoppen", "wil", "instellingen"}


def detect_language(text: str, previous: str | None = None) -> str:
    """``en`` when the words are clearly English, else ``nl``; ambiguous text keeps the previous language."""
    words = set(normalize(text).split())
    en, nl = len(words & _EN), len(words & _NL)
    if en > nl:
        return "en"
    if nl > en:
        return "nl"
    return previous if previous in ("nl", "en") else "nl"


def parse(text: str, *, default_radius_m: float, max_radius_m: float) -> Intent:
    t = normalize(text)
    if t in _STOP:
        return Intent(IntentKind.UNSUBSCRIBE)
    if t in _STATUS:
        return Intent(IntentKind.STATUS)
    if t in _HELP:
        return Intent(IntentKind.HELP)
    core, prefixed = t, False
    if m := _SUBSCRIBE_PREFIX.match(t + " "):
        core, prefixed = t[m.end():].strip(), True
        if not core:
            return Intent(IntentKind.HELP)
    radius = default_radius_m
    if m := _RADIUS.search(core):
        radius = float(m.group(1).replace(" ", ".")) * 1000
        core = core[: m.start()].strip()
    radius = max(MIN_RADIUS_M, min(max_radius_m, radius))
    place = lookup(core) if core else None
    if place is not None:
        return Intent(IntentKind.SUBSCRIBE, place=place, radius_m=max(radius, place.precision_m), query=core)
    if prefixed or _POSTCODE_LIKE.match(core):
        return Intent(IntentKind.UNKNOWN_PLACE, query=core)
    return Intent(IntentKind.OTHER, query=text.strip())
