"""Control characters in text that reaches people's screens.

Bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E/F, U+061C) reorder what a screen shows:
``"Bel 112 \\u202e"`` can make a message read differently from what was written, and C0/C1 controls
can break an SMS, a sign or a terminal. The hub refuses them in what dispatchers write for citizens
(the action schemas' text fields carry :data:`SCREEN_TEXT_PATTERN`) and strips them from what citizens
send in (tips, from every channel), keeping line breaks and tabs.
"""

from __future__ import annotations

import re

_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
FORBIDDEN = re.compile(f"[{_CONTROLS}]")
#: the JSON Schema ``pattern`` of a text field shown to citizens (the same set, as regex escapes)
SCREEN_TEXT_PATTERN = (
    "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]*$"
)


def clean_text(text: str) -> str:
    """``text`` without bidi and control characters (line breaks and tabs stay)."""
    return FORBIDDEN.sub("", text)


def forbidden_character(text: str) -> str | None:
    """The first forbidden character of ``text`` as ``U+XXXX``, or ``None``."""
    found = FORBIDDEN.search(text)
    return f"U+{ord(found.group()):04X}" if found else None
