"""Fitting a post into X's 280 weighted characters.

X counts characters by weight (twitter-text configuration v3): code points in a few Latin and
punctuation ranges weigh 1, everything else (CJK, most emoji) 2, and a URL always counts 23. The count
here errs on the long side: a URL counts as the larger of its own weight and 23, and an emoji
sequence counts 2 per code point. So a text that passes here is never refused for its length.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable

MAX_WEIGHT = 280
URL_WEIGHT = 23
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
# Schemes and bare domains that X links automatically (a conservative subset).
_URL = re.compile(
    r"(?:https?://\S+)|(?:\b[\w-]+(?:\.[\w-]+)*\.(?:nl|com|org|net|eu|be|de|info|io|app|gov|x)\b(?:/\S*)?)",
    re.IGNORECASE,
)
ELLIPSIS = "…"


def _char_weight(ch: str) -> int:
    cp = ord(ch)
    return 1 if any(lo <= cp <= hi for lo, hi in _LIGHT_RANGES) else 2


def _plain_weight(text: str) -> int:
    return sum(_char_weight(c) for c in text)


def weighted_length(text: str) -> int:
    text = unicodedata.normalize("NFC", text)
    total, last = 0, 0
    for match in _URL.finditer(text):
        total += _plain_weight(text[last : match.start()]) + max(URL_WEIGHT, _plain_weight(match.group()))
        last = match.end()
    return total + _plain_weight(text[last:])


def fits(text: str, limit: int = MAX_WEIGHT) -> bool:
    return weighted_length(text) <= limit


def shorten(free: str, compose: Callable[[str], str], limit: int = MAX_WEIGHT) -> str:
    """The longest ``compose(part of free)`` that fits, cutting ``free`` at a word boundary with "…".

    ``compose`` puts the free text (a description, a result) into the fixed parts (reference, number),
    which are never cut. If even an empty free text does not fit, the result is cut hard at the end.
    """
    free = " ".join(free.split())
    text = compose(free)
    if fits(text, limit):
        return text
    words = free.split(" ")
    lo, hi = 0, len(words)  # the answer keeps words[:k] for the largest fitting k
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(compose(_cut(words, mid)), limit):
            lo = mid
        else:
            hi = mid - 1
    if lo == 0 and words:
        # Not even one whole word: try cutting the first word by characters.
        first = words[0]
        for n in range(len(first) - 1, 0, -1):
            candidate = compose(first[:n] + ELLIPSIS)
            if fits(candidate, limit):
                return candidate
    text = compose(_cut(words, lo) if lo else "")
    while not fits(text, limit):  # the fixed parts alone are too long
        text = text[:-2].rstrip() + ELLIPSIS
    return text


def _cut(words: list[str], keep: int) -> str:
    if keep >= len(words):
        return " ".join(words)
    return " ".join(words[:keep]).rstrip(",;:.-–") + ELLIPSIS
