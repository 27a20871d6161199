"""Report tables, and the one place where a count of people becomes a printable cell.

Every table a report shows or exports is a :class:`Table` of raw values with typed columns; a value
only leaves as text through :func:`cell`, which prints a count of people below :data:`SMALL` as
``"< 5"`` (zero stays zero: it tells nothing about anybody). A share whose count of people is that
small is withheld too. CSV and HTML both go through it, so no export can show a small count.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .texts import number, percent

SMALL = 5
SMALL_TEXT = "< 5"
WITHHELD = "–"

PEOPLE = "people"  # a count of people (recipients, deliveries, tips, participants): small counts hidden
COUNT = "count"  # a count of actions or days: shown as is
SHARE = "share"  # a fraction 0..1, printed as a percentage
RATE = "rate"  # a number with one decimal (per 100,000 inhabitants, mean times reached)
SECONDS = "seconds"  # a duration
TEXT = "text"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = TEXT
    #: for a share or rate: the key of the people count it was computed from (withheld with it)
    of: str | None = None
    #: for a text column of codes (action types, channels...): each code as printed (see .texts)
    codes: Mapping[str, str] | None = field(default=None, compare=False)


class Table:
    """A report table. ``rows`` may be given, or built on first use by ``build`` (a year's per-action
    tables hold hundreds of thousands of rows; a view that shows none of them does not build them)."""

    def __init__(self, name: str, title: str, columns: Sequence[Column], rows: list[dict[str, Any]] | None = None,
                 note: str = "", build: Callable[[], list[dict[str, Any]]] | None = None,
                 language: str | None = None):
        self.name, self.title, self.columns, self.note = name, title, tuple(columns), note
        #: how its cells write decimals (see :func:`cell`); the CSV export writes them machine-readable
        self.language = language
        self._rows = rows
        self._build = build if rows is None else None
        if rows is None and build is None:
            self._rows = []

    @property
    def rows(self) -> list[dict[str, Any]]:
        if self._rows is None:
            self._rows = self._build() if self._build else []
        return self._rows

    def cells(self, limit: int | None = None, *, words: bool = True) -> list[list[str]]:
        """Every row (or the first ``limit``) as printable cells (small counts of people hidden);
        ``words=False`` leaves codes (action types, channels...) as they are."""
        rows = self.rows if limit is None else self.rows[:limit]
        language = self.language if words else None
        return [[cell(row.get(c.key), c, row, words=words, language=language) for c in self.columns] for row in rows]

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([c.key for c in self.columns])
        # CSV is for further counting: keys and codes as they are, whatever the report's language
        writer.writerows(self.cells(words=False))
        return out.getvalue()

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "note": self.note,
            "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in self.columns],
            "rows": self.cells(limit),
            "total_rows": len(self.rows),
        }


def small(n: Any) -> bool:
    return isinstance(n, (int, float)) and 0 < n < SMALL


def cell(value: Any, column: Column, row: dict[str, Any] | None = None, *, words: bool = True,
         language: str | None = None) -> str:
    """``value`` as printed in a report (see the module's docs); decimals as ``language`` writes
    them (``None``: machine-readable, "12.3")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    kind = column.kind
    if kind == PEOPLE:
        return SMALL_TEXT if small(value) else str(int(value))
    if column.of and row is not None and small(row.get(column.of)):
        return WITHHELD
    if kind == COUNT:
        return str(int(value))
    if kind == SHARE:
        return percent(value, language)
    if kind == RATE:
        return number(value, 1, language)
    if kind == SECONDS:
        return duration(value)
    codes = column.codes if words else None
    if isinstance(value, tuple):  # (code, count of people) pairs: "sms 12; phone < 5", codes worded
        return "; ".join(f"{codes.get(c, c) if codes else c} {cell(n, _PEOPLE)}" for c, n in value)
    if codes is not None and isinstance(value, str):
        return codes.get(value, value)
    return str(value)


_PEOPLE = Column("n", "", PEOPLE)


def duration(seconds: float) -> str:
    """``"45 s"``, ``"3 min 20 s"``, ``"2 h 05 min"``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"
