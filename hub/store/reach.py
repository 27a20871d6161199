"""How many participants were reached by exactly n actions, counted from the ids each action reached.

SQLite has no hash aggregate: grouping millions of ledger rows by participant sorts them, and counting
them one Python object per row costs about a microsecond each; PostgreSQL groups them by hashing, but
spills to disk past its ``work_mem`` and reads the whole ledger to find one month's rows. So the store
reads, per action of the period, one value (:data:`ACTION_IDS`): how many distinct participants its start messages
reached, the shortest and longest id (in bytes), and the ids themselves back to back. When every id has
the same length (the hub's own ids are 16 characters), the period's ids are one byte buffer that numpy
reads as it is: each id becomes a 64-bit key (the id itself when it fits in 8 bytes, else a hash), the
keys are sorted and the runs of equal keys counted. A hash is checked, never trusted: ids that share a
key must be equal, or the count is made again on the ids' bytes. Ids of mixed lengths (imported ids)
return ``None``: the caller counts those rows the plain way. Every path gives the same, exact answer.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: per action (``a``), one value: "<count> <shortest> <longest> " and the distinct participant ids its
#: start messages reached, back to back, as bytes (NULL when none); per backend. On SQLite the
#: deliveries_reach index holds all it reads; on PostgreSQL the ledger's unique key finds an action's rows.
_REACHED = ("d.action_id=a.id AND d.kind='start' AND d.status IN ('sending','sent','delivered')"
            " AND d.participant_id IS NOT NULL")
ACTION_IDS = {
    "sqlite": (
        "(SELECT CAST(count(*) || ' ' || min(length(CAST(p AS BLOB))) || ' ' || max(length(CAST(p AS BLOB)))"
        " || ' ' || group_concat(p, '') AS BLOB)"
        f" FROM (SELECT DISTINCT d.participant_id AS p FROM deliveries d WHERE {_REACHED}))"
    ),
    "postgres": (
        "(SELECT convert_to(count(*) || ' ' || min(octet_length(p)) || ' ' || max(octet_length(p))"
        " || ' ' || string_agg(p, ''), 'UTF8')"
        f" FROM (SELECT DISTINCT d.participant_id AS p FROM deliveries d WHERE {_REACHED}) s)"
    ),
}
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))


def split(blobs: Sequence[bytes | None]) -> tuple[int, list[memoryview]] | None:
    """The common id width and each action's ids (without the header), or ``None`` when the ids
    differ in length. Actions that reached nobody are left out."""
    width = None
    parts = []
    for blob in blobs:
        if blob is None:
            continue
        i = blob.index(b" ")
        j = blob.index(b" ", i + 1)
        k = blob.index(b" ", j + 1)
        count, w = int(blob[:i]), int(blob[i + 1:j])
        if w != int(blob[j + 1:k]) or (width is not None and w != width) or w == 0:
            return None
        width = w
        part = memoryview(blob)[k + 1:]
        if len(part) != w * count:
            return None
        parts.append(part)
    return (width or 0), parts


def reach_counts(width: int, parts: Sequence[bytes | memoryview]) -> dict[int, int]:
    """``{n: ids in exactly n of the parts}``: each part holds one action's distinct ids of ``width``
    bytes, back to back."""
    if not parts:
        return {}
    data = b"".join(parts)
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, width)
    words = _words(rows)
    if words.shape[1] == 1:
        # every id fits in 8 bytes: the key is the id
        keys = np.sort(words[:, 0])
        return _runs(keys[1:] == keys[:-1])
    key = _hash(words)
    order = np.argsort(key)
    key = key[order]
    same = key[1:] == key[:-1]
    # a key and the id's other words determine its first word (see _hash): where the keys of two ids
    # sorted next to each other are equal, their other words must be too, else two ids share a key
    rest = words[order, 1:] if words.shape[1] > 2 else words[order, 1]
    if not np.array_equal(rest[1:][same], rest[:-1][same]):
        return _exact(rows)
    return _runs(same)


def _words(rows: np.ndarray) -> np.ndarray:
    """The ids' bytes as little-endian 64-bit words, zero-padded: ``(n, ceil(width / 8))``."""
    n, width = rows.shape
    if width % 8 == 0:
        return rows.reshape(-1).view("<u8").reshape(n, width // 8)
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
    runs = np.diff(np.append(starts, len(same) + 1))
    counts = np.bincount(runs)
    return {int(n): int(c) for n, c in enumerate(counts.tolist()) if n and c}


def _exact(rows: np.ndarray) -> dict[int, int]:
    _, runs = np.unique(np.ascontiguousarray(rows).view(f"V{rows.shape[1]}").ravel(), return_counts=True)
    counts = np.bincount(runs)
    return {int(n): int(c) for n, c in enumerate(counts.tolist()) if n and c}
