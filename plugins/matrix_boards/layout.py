"""Text for matrix signs: a safe character set and a fixed grid of ``lines`` x ``width`` characters.

Signs and bus/tram tickers show a small grid and a narrow character set. Everything the hub sends is
first transliterated to printable ASCII (``ë`` -> ``e``, ``ß`` -> ``ss``, typographic quotes and dashes
to their ASCII forms; anything else that cannot be shown is dropped), then laid out:

* :func:`fit` - one screen (the *short* form): at most ``lines`` lines of at most ``width`` characters.
  When the text does not fit, the headline goes first, then the body is cut short (ending in ``...``)
  so the call to action with the phone number stays whole; on the smallest signs the body alone.
* :func:`paginate` - the *long* form: the same paragraphs over as many screens (pages) as needed.
* :func:`ticker` - one line for scrolling tickers.

All functions are pure, so the reference controller can re-lay a payload's paragraphs for its own size.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from typing import Iterable, Sequence

ELLIPSIS = "..."
TICKER_SEPARATOR = " - "

#: characters NFKD decomposition does not reduce to ASCII
_SPECIAL = {
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i",
    "‘": "'", "’": "'", "‚": ",", "‛": "'", "′": "'", "“": '"', "”": '"', "„": '"', "″": '"',
    "«": '"', "»": '"', "‹": "'", "›": "'", "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-",
    "―": "-", "−": "-", "…": "...", "•": "-", "·": "-", "×": "x", "⁄": "/", "€": "EUR", "£": "GBP",
    "°": " ", "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\t": " ", "\r": " ", "\n": " ",
}
_SPECIAL_TABLE = str.maketrans(_SPECIAL)
_SPACES = re.compile(r" {2,}")


def sign_safe(text: str, *, uppercase: bool = False) -> str:
    """``text`` in printable ASCII (0x20-0x7E) only, whitespace squashed; diacritics stripped, not dropped."""
    text = unicodedata.normalize("NFKC", text).translate(_SPECIAL_TABLE)
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if " " <= c <= "~")
    kept = _SPACES.sub(" ", kept).strip()
    return kept.upper() if uppercase else kept


def is_sign_safe(text: str) -> bool:
    return all(" " <= c <= "~" for c in text)


_DIGIT_GROUPS = re.compile(r"\d+(?: \d+)+")
_GLUE = "\x00"


def wrap(paragraph: str, width: int) -> list[str]:
    """Break one paragraph into lines of at most ``width`` characters.

    Long words are split; digit groups such as ``0800 0011`` stay on one line when they fit.
    """
    glued = _DIGIT_GROUPS.sub(lambda m: m[0].replace(" ", _GLUE) if len(m[0]) <= width else m[0], paragraph)
    lines = textwrap.wrap(glued, width=width, break_long_words=True, break_on_hyphens=True)
    return [line.replace(_GLUE, " ") for line in lines]


def _ellipsize(line: str, width: int) -> str:
    """``line`` ending in ``...`` within ``width``, cut at a word boundary where there is one."""
    if len(line) + len(ELLIPSIS) <= width:
        return line + ELLIPSIS
    room = max(0, width - len(ELLIPSIS))
    head = line[:room]
    if line[room : room + 1] not in ("", " ") and " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip() + ELLIPSIS


def fit(paragraphs: Sequence[str], lines: int, width: int) -> list[str]:
    """One screen: the paragraphs wrapped to ``width`` and cut down to at most ``lines`` lines.

    With three or more paragraphs the first is a headline, the last a call to action, and those in
    between the body. The first of these that fits is taken: everything; everything but the headline;
    the body cut short (ending in ``...``) above the full call to action; the body alone, cut short.
    """
    blocks = [b for b in (wrap(p, width) for p in paragraphs) if b]
    flat = [line for b in blocks for line in b]
    if len(flat) <= lines:
        return flat
    if len(blocks) >= 3:
        body, tail = [line for b in blocks[1:-1] for line in b], blocks[-1]
    else:
        body, tail = flat, []
    if len(body) + len(tail) <= lines:
        return body + tail
    room = lines - len(tail)
    if tail and room >= 1:
        return _cut(body, room, width) + tail
    return _cut(body, lines, width)


def _cut(body: list[str], room: int, width: int) -> list[str]:
    if len(body) <= room:
        return body
    return body[: room - 1] + [_ellipsize(body[room - 1], width)]


def paginate(paragraphs: Sequence[str], lines: int, width: int) -> list[list[str]]:
    """The long form: every paragraph wrapped to ``width``, in pages of at most ``lines`` lines."""
    flat = [line for p in paragraphs for line in wrap(p, width)]
    return [flat[i : i + lines] for i in range(0, len(flat), lines)] or [[]]


def ticker(paragraphs: Iterable[str], max_length: int) -> str:
    """One line for a scrolling ticker, cut to ``max_length`` characters with ``...``."""
    line = TICKER_SEPARATOR.join(p for p in paragraphs if p)
    if len(line) <= max_length:
        return line
    return line[: max(0, max_length - len(ELLIPSIS))].rstrip() + ELLIPSIS
