"""How many participants were reached by exactly n actions, counted from the ids each action reached.

SQLite has no hash aggregate: grouping millions of ledger rows by participant sorts them, and counting
them one Python object per row costs about a microsecond each; PostgreSQL groups them by hashing, but
spills to disk past its ``work_mem`` and reads the whole ledger to find one month's rows. So the store
reads, per action of the period, one value (:data:`ACTION_IDS`): how many start rows reached someone
and their participant ids, one per line, in order. When every id has the same length (the hub's own
ids are 16 characters) and no id holds a line break (the count of line breaks says so), the period's
ids are one byte buffer that numpy reads as it is: copies within an action (one per channel) are
dropped, each id gets a 64-bit key (a hash that, with the id's other words, determines its first), and
one sort of the keys' high bits packed with the row numbers brings equal ids together; the runs are
counted. Nothing is assumed unchecked: an action's ids must be in order, and the ids of a run are
compared whole (a run that holds several ids is counted again on the ids' bytes). The store reads the
period in slices and the ids of each slice are prepared while it reads the next (:class:`Tally`).
Ids of mixed lengths, or out of order, return ``None``: the caller counts those rows the plain way.
Every path gives the same, exact answer.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: per action (``a``), one value: "<count> " and the participant ids of its start rows that reached
#: someone, one per line, in id order (a participant reached on two channels is there twice), as bytes
#: (NULL when none); per backend. On PostgreSQL the ledger's unique key finds an action's rows. On SQLite
#: the deliveries_reach index holds the start rows that were sent or delivered, in that order, and the
#: value is read from it alone; a start row still in flight (``sending``) is not in that index, so an
#: action with such rows (one still going out when the report is drawn) has its reached ids read from
#: its ledger rows and sorted instead (the actions with rows in flight are found through the
#: deliveries_inflight index, which holds only those rows).
_REACHED = ("d.action_id=a.id AND d.kind='start' AND d.status IN ('sending','sent','delivered')"
            " AND d.participant_id IS NOT NULL")
_SETTLED = ("d.action_id=a.id AND d.kind='start' AND d.status IN ('sent','delivered')"
            " AND d.participant_id IS NOT NULL")
_VALUE = "CAST(count(*) || ' ' || group_concat({ids}, char(10)) AS BLOB)"
ACTION_IDS = {
    "sqlite": "(CASE WHEN a.id IN (SELECT f.action_id FROM deliveries f WHERE f.status='sending' AND f.kind='start')"
              f" THEN (SELECT {_VALUE.format(ids='r.pid')} FROM (SELECT d.participant_id AS pid FROM deliveries d"
              f" WHERE {_REACHED} ORDER BY d.participant_id) r)"
              f" ELSE (SELECT {_VALUE.format(ids='d.participant_id')} FROM deliveries d WHERE {_SETTLED}) END)",
    "postgres": "(SELECT convert_to(count(*) || ' ' || string_agg(d.participant_id, chr(10)"
                " ORDER BY d.participant_id COLLATE \"C\"),"
                f" 'UTF8') FROM deliveries d WHERE {_REACHED})",
}
NEWLINE = 10
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))


def split(values: Sequence[bytes | None]) -> tuple[list[int], list[memoryview]] | None:
    """``(counts, parts)``: per action that reached someone, how many ids it holds and its lines
    (without the count); ``None`` when an id holds a line break itself."""
    counts: list[int] = []
    parts: list[memoryview] = []
    for value in values:
        if value is None:
            continue
        head = value.index(b" ")
        count = int(value[:head])
        if value.count(b"\n", head + 1) != count - 1:
            return None
        counts.append(count)
        parts.append(memoryview(value)[head + 1:])
    return counts, parts


def reach_counts(counts: Sequence[int], parts: Sequence[bytes | memoryview]) -> dict[int, int] | None:
    """``{n: ids in exactly n of the parts}``; each part holds one action's ids (``counts``), one per
    line, in order, none holding a line break (see :func:`split`). ``None`` when the ids differ in
    length or an action's ids are not in order: then count otherwise."""
    tally = Tally()
    return tally.result() if tally.add(counts, parts) else None


class Tally:
    """:func:`reach_counts` over actions that come in slices: each slice's ids are checked, stripped of
    their copies and hashed as it comes (:meth:`add`), so that the store reads the next slice meanwhile;
    :meth:`result` counts them all."""

    def __init__(self) -> None:
        self.width: int | None = None
        self._words: list[np.ndarray] = []
        self._keys: list[np.ndarray] = []

    def add(self, counts: Sequence[int], parts: Sequence[bytes | memoryview]) -> bool:
        """Take one slice of actions (see :func:`split`); ``False`` when its ids differ in length (from
        each other or from earlier slices') or an action's ids are not in order: then count otherwise."""
        if not sum(counts):
            return True
        prepared = _distinct_per_action(counts, parts)
        if prepared is None:
            return False
        width, words = prepared
        if self.width is not None and width != self.width:
            return False
        self.width = width
        self._words.append(words)
        self._keys.append(_hash(words))
        return True

    def result(self) -> dict[int, int]:
        if not self._words:
            return {}
        words = self._words[0] if len(self._words) == 1 else np.concatenate(self._words)
        keys = self._keys[0] if len(self._keys) == 1 else np.concatenate(self._keys)
        self._words, self._keys = [], []
        return _count(words, keys)


def _distinct_per_action(counts: Sequence[int], parts: Sequence[bytes | memoryview]) -> tuple[int, np.ndarray] | None:
    """``(width, words)``: the ids' width in bytes and their words (see :func:`_words`), each id once per
    action; ``None`` when the ids differ in length or an action's ids are not in order."""
    total = sum(counts)
    data = b"\n".join([*parts, b""])  # a line break after every id
    width, rest = divmod(len(data), total)
    if rest or width < 2:
        return None
    lines = np.frombuffer(data, dtype=np.uint8).reshape(total, width)
    # the buffer holds exactly ``total`` line breaks, one after each id: when each ends a line of
    # ``width`` bytes, every id has width - 1 bytes
    if not (lines[:, -1] == NEWLINE).all():
        return None
    words = _words(lines[:, :-1])
    # an id reached on several channels of one action counts once: its copies lie next to each other
    # when the action's ids are in order (checked: else None)
    first = np.zeros(total, dtype=bool)
    first[np.cumsum([0, *counts[:-1]])] = True
    order_words = words.byteswap()  # big-endian: compares as the bytes do
    later = np.zeros(total - 1, dtype=bool)  # id > the one before, word by word
    equal = np.ones(total - 1, dtype=bool)
    for k in range(words.shape[1]):
        a, b = order_words[:-1, k], order_words[1:, k]
        later |= equal & (b > a)
        equal &= b == a
    if not (later | equal | first[1:]).all():
        return None
    # (np.compress: a boolean index of rows is about three times slower)
    return width - 1, np.compress(np.concatenate(([True], first[1:] | ~equal)), words, axis=0)


def _count(words: np.ndarray, key: np.ndarray) -> dict[int, int]:
    """How many of the distinct ids ``words`` holds (one id a row, each once per action) occur exactly n
    times; ``key``: their keys (:func:`_hash`).

    One sort of 64-bit values, no argsort (a sort of plain integers runs in SIMD, several times as fast
    as sorting their order): each value packs the high bits of the id's key with the id's row number, so
    equal ids sort next to each other and the rows read back from the low bits. Two ids whose keys share
    those high bits may interleave: the ids of each run of equal high bits are compared whole, and the
    few runs that hold more than one id are counted exactly on their own."""
    n = len(words)
    bits = max(1, (n - 1).bit_length())
    if bits > 40:
        return _exact(words)
    shift = np.uint64(bits)
    key = key >> shift
    key <<= shift
    key |= np.arange(n, dtype=np.uint64)
    key.sort()
    rows = (key & np.uint64((1 << bits) - 1)).astype(np.intp)
    key >>= shift
    same = key[1:] == key[:-1]
    del key
    ids = np.take(words, rows, axis=0)  # (a fancy index of rows is five times slower)
    equal = np.ones(n - 1, dtype=bool)
    for k in range(ids.shape[1]):
        equal &= ids[1:, k] == ids[:-1, k]
    mixed = same & ~equal
    if not mixed.any():
        return _runs(same)
    # runs of equal high bits that hold more than one id: count those rows' ids exactly
    run = np.concatenate(([0], np.cumsum(~same)))
    bad = np.zeros(run[-1] + 1, dtype=bool)
    bad[run[1:][mixed]] = True
    inside = bad[run]
    counts = _runs_of(run[~inside])
    for times, c in _exact(ids[inside]).items():
        counts[times] = counts.get(times, 0) + c
    return counts


def _words(rows: np.ndarray) -> np.ndarray:
    """The ids' bytes as little-endian 64-bit words, zero-padded: ``(n, ceil(width / 8))``."""
    n, width = rows.shape
    if width % 8 == 0:
        return np.ascontiguousarray(rows).view("<u8")
    words = -(-width // 8)
    padded = np.zeros((n, words * 8), dtype=np.uint8)
    padded[:, :width] = rows
    return padded.view("<u8")


def _hash(words: np.ndarray) -> np.ndarray:
    """A 64-bit key per id: ``mix(w0 ^ f(w1, w2, ...))``, ``mix`` invertible (odd multipliers and
    xor-shifts), so that the key and the words after the first determine the first."""
    f = np.zeros(len(words), dtype=np.uint64)
    for k in range(1, words.shape[1]):
        f = (f ^ words[:, k]) * _MIX[k % len(_MIX)]
        f ^= f >> np.uint64(31)
    h = words[:, 0] ^ f
    h *= _MIX[0]
    h ^= h >> np.uint64(32)
    h *= _MIX[2]
    h ^= h >> np.uint64(29)
    return h


def _runs(same: np.ndarray) -> dict[int, int]:
    """From sorted keys' "equal to the one before" flags: how many keys occur exactly n times."""
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    return _histogram(np.diff(np.append(starts, len(same) + 1)))


def _runs_of(labels: np.ndarray) -> dict[int, int]:
    """:func:`_runs` of sorted labels (each run of equal labels one key)."""
    if not len(labels):
        return {}
    return _runs(labels[1:] == labels[:-1])


def _histogram(runs: np.ndarray) -> dict[int, int]:
    counts = np.bincount(runs)
    return {int(n): int(c) for n, c in enumerate(counts.tolist()) if n and c}


def _exact(words: np.ndarray) -> dict[int, int]:
    """:func:`_runs` of the ids themselves (their words compared whole: slower, never wrong)."""
    if not len(words):
        return {}
    _, runs = np.unique(np.ascontiguousarray(words).view(f"V{8 * words.shape[1]}").ravel(), return_counts=True)
    return _histogram(runs)
