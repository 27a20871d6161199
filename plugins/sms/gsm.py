"""SMS text encoding: GSM-7 or UCS-2 detection, segment counting, and fitting a message into N segments.

Pure functions, no I/O. The numbers follow 3GPP TS 23.038 / 23.040:

* GSM-7 packs 160 septets into one SMS, or 153 per segment of a concatenated message (the user data
  header takes 7 septets). Characters of the extension table (``^ { } \\ [ ~ ] | €`` and form feed)
  are an escape plus a character: two septets, and never split across two segments.
* UCS-2 (any text with a character outside GSM-7) packs 70 UTF-16 code units into one SMS, or 67 per
  segment. A character outside the Basic Multilingual Plane is a surrogate pair: two units, never split.

:func:`normalize` ("smart encoding") replaces look-alike characters that dispatchers paste in
(curly quotes, dashes, ``ë``, non-breaking spaces) by their GSM-7 equivalents, because one such
character would otherwise switch the whole message to UCS-2 and halve what fits.

:func:`fit` shortens only the free-text part of a message (the description) until the rendered
message fits ``max_segments``; the fixed parts (call-back number, action reference) are never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal

GSM7 = "GSM-7"
UCS2 = "UCS-2"
Encoding = Literal["GSM-7", "UCS-2"]

#: the GSM 03.38 default alphabet (the escape code 0x1B left out: it is not a character)
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: the extension table: each costs an escape septet plus itself
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE_GSM7, MULTI_GSM7 = 160, 153
SINGLE_UCS2, MULTI_UCS2 = 70, 67

#: look-alikes mapped to GSM-7, in the spirit of providers' "smart encoding"
SMART_REPLACEMENTS: dict[str, str] = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u2039": "'", "\u203a": "'",
    "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2022": "-", "\u00b7": "-",
    "\u2026": "...",
    "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ", "\u205f": " ",
    "\t": " ",
    "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
    "ë": "e", "ê": "e", "ē": "e", "ė": "e", "ę": "e",
    "ï": "i", "î": "i", "í": "i", "ī": "i",
    "á": "a", "â": "a", "ã": "a", "ā": "a", "ą": "a",
    "ó": "o", "ô": "o", "õ": "o", "ō": "o",
    "ú": "u", "û": "u", "ū": "u",
    "ý": "y", "ÿ": "y",
    "ç": "c", "ć": "c", "č": "c", "ś": "s", "š": "s", "ž": "z", "ź": "z", "ż": "z", "ł": "l", "ń": "n", "ř": "r",
    "Ë": "E", "Ê": "E", "È": "E", "Ē": "E",
    "Ï": "I", "Î": "I", "Í": "I", "Ì": "I",
    "Á": "A", "Â": "A", "À": "A", "Ã": "A",
    "Ó": "O", "Ô": "O", "Ò": "O", "Õ": "O",
    "Ú": "U", "Û": "U", "Ù": "U",
    "Ý": "Y", "Ć": "C", "Č": "C", "Š": "S", "Ž": "Z", "Ł": "L",
    "œ": "oe", "Œ": "OE", "ĳ": "ij", "Ĳ": "IJ",
}
_SMART_TABLE = str.maketrans(SMART_REPLACEMENTS)


def normalize(text: str) -> str:
    """Replace look-alike characters by GSM-7 ones; characters without a look-alike are kept."""
    return text.translate(_SMART_TABLE)


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 default alphabet or its extension table."""
    for ch in text:
        if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION:
            return False
    return True


def encoding(text: str) -> Encoding:
    return GSM7 if is_gsm7(text) else UCS2


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How a text travels: its encoding, its length in septets (GSM-7) or UTF-16 units (UCS-2), its parts."""

    encoding: Encoding
    units: int
    segments: int


def _pack(widths: list[int] | None, units: int, single: int, multi: int) -> int:
    """Segments needed for characters of the given widths, never splitting a multi-unit character."""
    if units == 0:
        return 1
    if units <= single:
        return 1
    if widths is None:  # every character is one unit
        return -(-units // multi)
    segments, used = 1, 0
    for w in widths:
        if used + w > multi:
            segments += 1
            used = 0
        used += w
    return segments


def info(text: str) -> SegmentInfo:
    """The encoding and segment count of ``text`` as a provider would send it."""
    if is_gsm7(text):
        widths = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        units = sum(widths)
        exact = widths if units != len(text) else None
        return SegmentInfo(GSM7, units, _pack(exact, units, SINGLE_GSM7, MULTI_GSM7))
    widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    units = sum(widths)
    exact = widths if units != len(text) else None
    return SegmentInfo(UCS2, units, _pack(exact, units, SINGLE_UCS2, MULTI_UCS2))


def segments(text: str) -> int:
    return info(text).segments


@dataclass(frozen=True, slots=True)
class Fitted:
    """A message laid out to fit: the final text, the description used, and whether it was shortened."""

    text: str
    description: str
    info: SegmentInfo
    shortened: bool
    #: False when even an empty description does not fit (the fixed parts alone are too long)
    fits: bool


ELLIPSIS = "..."
_TRAILING = " ,;:-/("


def _shorten(description: str, length: int) -> str:
    if length >= len(description):
        return description
    if length <= 0:
        return ""
    return description[:length].rstrip(_TRAILING) + ELLIPSIS


def fit(render: Callable[[str], str], description: str, max_segments: int) -> Fitted:
    """Render with the longest prefix of ``description`` for which the message fits ``max_segments``.

    ``render(description)`` must produce the complete message. The description is cut at a word
    boundary when one fits (else inside the first word) and marked with ``...``. Fewer characters
    never need more segments (shortening can only switch UCS-2 to GSM-7), so a binary search is exact.
    """
    description = " ".join(description.split())
    text = render(description)
    first = info(text)
    if first.segments <= max_segments:
        return Fitted(text, description, first, False, True)

    def attempt(length: int) -> tuple[str, str, SegmentInfo]:
        short = _shorten(description, length)
        rendered = render(short)
        return short, rendered, info(rendered)

    # word boundaries: cut just before each space, so whole words are kept
    cuts = [m.start() for m in re.finditer(" ", description)]
    best = _search(cuts, attempt, max_segments)
    if best is None:
        first_word = cuts[0] if cuts else len(description)
        best = _search(list(range(1, first_word)), attempt, max_segments)
    if best is None:
        short, rendered, inf = attempt(0)
        return Fitted(rendered, short, inf, True, inf.segments <= max_segments)
    short, rendered, inf = best
    return Fitted(rendered, short, inf, True, True)


def _search(cuts: list[int], attempt, max_segments: int):
    """The attempt at the largest cut that fits, by binary search; None if none fits."""
    lo, hi, best = 0, len(cuts) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        result = attempt(cuts[mid])
        if result[2].segments <= max_segments:
            best = result
            lo = mid + 1
        else:
            hi = mid - 1
    return best
