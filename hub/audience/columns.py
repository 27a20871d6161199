"""Compact column storage of the audience index: growable arrays, string columns, hashes, set tests.

Everything here is independent of what the columns hold: :class:`_Grow` (a numpy array with spare
capacity), :class:`_Strings` (many short strings in one byte string, with a few replaced ones aside),
:func:`_h32` (the stable hash of ids and e-mail addresses) and vectorised membership helpers.
"""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np


def _repeated(values: np.ndarray) -> np.ndarray:
    """Which entries hold a value that occurs more than once."""
    if len(values) < 2:
        return np.zeros(len(values), dtype=bool)
    ordered = np.sort(values)
    repeats = ordered[1:][ordered[1:] == ordered[:-1]]
    return _members(values, repeats)


def _members(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """``np.isin(values, pool)`` for a sorted ``pool`` of the same dtype, without sorting ``values``."""
    if not len(pool):
        return np.zeros(len(values), dtype=bool)
    at = np.searchsorted(pool, values)
    np.minimum(at, len(pool) - 1, out=at)
    return pool[at] == values


class _Grow:
    """A numpy array with spare capacity for cheap appends.

    Appends never move existing items in place (a full array is copied into a larger one), so views
    handed out earlier keep their values. Items are only overwritten in place by the index when
    nothing handed out refers to them (see :class:`~hub.audience.index.AudienceIndex` on leases).
    """

    __slots__ = ("a", "n")

    def __init__(self, data: np.ndarray):
        self.a = data
        self.n = len(data)

    @property
    def v(self) -> np.ndarray:
        return self.a[: self.n]

    def append(self, value) -> None:
        if self.n == len(self.a):
            grown = np.empty(max(1024, self.n + (self.n >> 3)), dtype=self.a.dtype)
            grown[: self.n] = self.a[: self.n]
            self.a = grown
        self.a[self.n] = value
        self.n += 1

    def nbytes(self) -> int:
        return self.a.nbytes


class _Strings:
    """Many short strings, one per slot: a UTF-8 byte string of ``\\n``-ended entries (the *main*
    entries, slots ``0 .. main_len - 1``) plus replaced and appended entries in a dict (*aside*).

    An entry is replaced by :meth:`set` (the main bytes stay until :meth:`merged`), appended by
    :meth:`append`, and erased by :meth:`blank`, which also overwrites its main bytes in place, so
    that a snapshot written afterwards does not hold them. :meth:`merged` writes everything into a
    new byte string. ``aside_mask`` marks the slots with an entry aside, so that a bulk read only
    looks those up.
    """

    __slots__ = ("blob", "starts", "aside", "n", "aside_mask")

    def __init__(self, items: Sequence[str] = ()):
        self._set_blob(bytearray(("\n".join(items) + "\n").encode()) if items else bytearray())
        self.aside: dict[int, str] = {}
        self.aside_mask: _Grow | None = None

    def _set_blob(self, blob: bytearray, starts: np.ndarray | None = None) -> None:
        self.blob = blob
        if starts is None:
            ends = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == 10)
            starts = np.empty(len(ends) + 1, dtype=np.int64)
            starts[0] = 0
            starts[1:] = ends + 1
        self.starts = starts.astype(np.uint32) if len(blob) < 2**32 else starts.astype(np.int64)
        self.n = len(self.starts) - 1

    @classmethod
    def from_blob(cls, blob: bytes | bytearray, starts: np.ndarray | None = None) -> _Strings:
        """A column over ``blob`` (entries each ended by ``\\n``); ``starts`` when already known."""
        out = cls()
        out._set_blob(blob if isinstance(blob, bytearray) else bytearray(blob), starts)
        return out

    def permuted(self, order: np.ndarray, *, chunk: int = 1 << 18) -> _Strings:
        """A new column holding entry ``order[i]`` at ``i`` (main entries only).

        The bytes are gathered with numpy a chunk of entries at a time (one index per byte of the chunk).
        """
        order = np.asarray(order, dtype=np.int64)
        starts = self.starts.astype(np.int64)
        lengths = (starts[1:] - starts[:-1])[order]
        new_starts = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_starts[1:])
        src = np.frombuffer(self.blob, dtype=np.uint8)
        out = np.empty(int(new_starts[-1]), dtype=np.uint8)
        for a in range(0, len(order), chunk):
            b = min(len(order), a + chunk)
            lo, hi = int(new_starts[a]), int(new_starts[b])
            # source position of every byte: its entry's source start plus its offset in the entry
            shift = np.repeat(starts[order[a:b]] - new_starts[a:b], lengths[a:b])
            out[lo:hi] = src[shift + np.arange(lo, hi)]
        return _Strings.from_blob(bytearray(out), new_starts)

    @property
    def main_len(self) -> int:
        return len(self.starts) - 1

    def __len__(self) -> int:
        return self.n

    def get(self, i: int) -> str:
        if self.aside:
            text = self.aside.get(i)
            if text is not None:
                return text
        return self.blob[int(self.starts[i]) : int(self.starts[i + 1]) - 1].decode()

    def get_many(self, slots: np.ndarray) -> list[str]:
        """The entries at ``slots``, in that order (the main ones gathered by :meth:`_gather`)."""
        slots = np.asarray(slots)
        if not len(slots):
            return []
        patch = None
        main = slots
        if self.aside:
            patch = np.flatnonzero(self.aside_mask.a[slots])  # type: ignore[union-attr]
            if len(patch) == len(slots):
                aside = self.aside
                return [aside[s] for s in slots.tolist()]
            if len(patch) and int(slots.max()) >= self.main_len:
                main = np.where(slots < self.main_len, slots, 0)  # appended entries: patched below
        out = self._gather(main)
        if patch is not None and len(patch):
            aside = self.aside
            for i, slot in zip(patch.tolist(), slots[patch].tolist()):
                out[i] = aside[slot]
        return out

    def _gather(self, slots: np.ndarray, chunk: int = 1 << 15) -> list[str]:
        """The main entries at ``slots`` (all below :attr:`main_len`), in that order: their bytes are
        gathered with numpy (one index per byte, a chunk of entries at a time) and decoded at once."""
        src = np.frombuffer(self.blob, dtype=np.uint8)
        out: list[str] = []
        for a in range(0, len(slots), chunk):
            part = slots[a : a + chunk]
            first = self.starts[part].astype(np.int64)
            lengths = self.starts[part + 1].astype(np.int64)
            lengths -= first
            ends = np.cumsum(lengths)
            # source position of every byte: its entry's first byte plus its offset in the entry
            index = np.repeat(first - (ends - lengths), lengths)
            index += np.arange(int(ends[-1]) if len(ends) else 0)
            out += src[index].tobytes().decode().split("\n")[:-1]
        return out

    def _mark_aside(self, i: int) -> None:
        mask = self.aside_mask
        if mask is None:
            mask = self.aside_mask = _Grow(np.zeros(max(self.n, 1), dtype=bool))
            mask.n = self.n
        while mask.n < self.n:
            mask.append(False)
        mask.a[i] = True

    def set(self, i: int, s: str) -> None:
        """Replace entry ``i`` (its main bytes, if any, stay until :meth:`merged`)."""
        self.aside[i] = s
        self._mark_aside(i)

    def append(self, s: str) -> None:
        self.n += 1
        self.set(self.n - 1, s)

    def blank(self, i: int) -> None:
        """Erase entry ``i``: it reads as ``""`` and its main bytes are overwritten in place."""
        if i < self.main_len:
            a, b = int(self.starts[i]), int(self.starts[i + 1]) - 1
            if b > a:
                self.blob[a:b] = bytes(b - a)
        self.set(i, "")

    def merged(self) -> _Strings:
        """A new column of every entry, replaced and appended ones written into the byte string."""
        m = self.main_len
        if not self.aside and self.n == m:
            return self
        starts = self.starts
        view = memoryview(self.blob)
        encoded = {slot: self.aside[slot].encode() + b"\n" for slot in sorted(self.aside)}
        upper = len(self.blob) + sum(map(len, encoded.values()))
        new_starts = np.empty(self.n + 1, dtype=np.uint32 if upper < 2**32 else np.int64)
        new_starts[0] = 0
        pieces: list[bytes | memoryview] = []
        at = 0  # next main entry to copy
        shift = 0  # new start minus old start of the main entries from ``at`` on
        for slot, text in [*encoded.items(), (None, b"")]:
            stop = m if slot is None or slot >= m else slot
            if stop > at:  # the unchanged main entries ``at .. stop - 1``
                pieces.append(view[int(starts[at]) : int(starts[stop])])
                new_starts[at + 1 : stop + 1] = starts[at + 1 : stop + 1].astype(np.int64) + shift
                at = stop
            if slot is None:
                break
            if slot < m:
                shift += len(text) - (int(starts[slot + 1]) - int(starts[slot]))
                at = slot + 1
            pieces.append(text)
            new_starts[slot + 1] = int(new_starts[slot]) + len(text)
        blob = bytearray().join(pieces)
        pieces.clear()
        view.release()
        out = _Strings()
        out.blob = blob
        out.starts = new_starts
        out.n = self.n
        return out

    def shrunk(self, n: int, src: np.ndarray, dst: np.ndarray) -> _Strings:
        """A column of the first ``n`` entries with entry ``src[i]`` moved to ``dst[i]``.

        The new column shares this one's byte string (nothing is copied: moved entries go aside), so
        only :meth:`blank` it while nothing reads this one any more.
        """
        out = _Strings()
        out.blob = self.blob
        out.starts = self.starts[: min(self.main_len, n) + 1]
        out.n = n
        for slot, text in self.aside.items():
            if slot < n:
                out.set(slot, text)
        for s, d in zip(np.asarray(src).tolist(), np.asarray(dst).tolist()):
            out.set(d, self.get(s))
        return out

    def used_blob(self) -> np.ndarray:
        """The bytes of the main entries (the byte string may run on past them after :meth:`shrunk`)."""
        return np.frombuffer(self.blob, dtype=np.uint8)[: int(self.starts[-1])]

    def aside_arrays(self, blank: frozenset[int] | set[int] = frozenset()) -> tuple[np.ndarray, np.ndarray]:
        """The entries aside as (slots, ``\\n``-ended UTF-8 texts), for a snapshot; those of the slots in
        ``blank`` as empty (and those slots aside even when they were not)."""
        keys = sorted(set(self.aside) | set(blank))
        slots = np.array(keys, dtype=np.int32)
        text = "".join(("" if s in blank else self.aside[s]) + "\n" for s in keys).encode()
        return slots, np.frombuffer(text, dtype=np.uint8)

    def restore_aside(self, n: int, slots: np.ndarray, texts: np.ndarray) -> None:
        """Put back the entries :meth:`aside_arrays` gave, in a column of ``n`` entries."""
        self.n = n
        for slot, text in zip(slots.tolist(), texts.tobytes().decode().split("\n")):
            self.set(slot, text)

    def blanked_blob(self, slots: np.ndarray) -> np.ndarray:
        """A copy of the byte string with the main entries at ``slots`` overwritten (for a snapshot)."""
        out = self.used_blob().copy()
        for i in np.asarray(slots).tolist():
            if i < self.main_len:
                a, b = int(self.starts[i]), int(self.starts[i + 1]) - 1
                out[a:b] = 0
        return out

    def nbytes(self) -> int:
        total = len(self.blob) + self.starts.nbytes + sum(len(s) + 57 for s in self.aside.values())
        if self.aside:
            total += len(self.aside) * 16  # the dict's table
        if self.aside_mask is not None:
            total += self.aside_mask.nbytes()
        return total


def _h32(text: str) -> int:
    """A 31-bit hash for lookups (collisions are resolved by comparing the strings).

    Stable across processes (CRC-32, unlike the salted built-in ``hash``), so that hashes can be
    saved in a snapshot and used by the next process.
    """
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


class _Sparse:
    """A value for a few of the slots (0 for the others): the slots sorted in one array with their
    values in another, plus the values set since in a dict (0: erased there) until :meth:`merged`.

    The arrays are never changed in place (a merge makes new ones), and the dict only gains entries
    for slots that nothing handed out reads (see :class:`_Grow`), so a reader may keep this object.
    Bulk reads are vectorised: a binary search of the slots asked for in the sorted slots, and in
    the sorted slots of the dict (kept until the next change).
    """

    __slots__ = ("slots", "values", "changed", "_changed_arrays")

    def __init__(self, slots: np.ndarray | None = None, values: np.ndarray | None = None):
        self.slots = np.zeros(0, dtype=np.int32) if slots is None else slots.astype(np.int32, copy=False)
        self.values = np.zeros(0, dtype=np.int64) if values is None else values.astype(np.int64, copy=False)
        self.changed: dict[int, int] = {}
        self._changed_arrays: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_pairs(cls, slots: np.ndarray, values: np.ndarray) -> _Sparse:
        """From (slot, value) pairs in any order, slots distinct; pairs with value 0 are left out."""
        slots, values = np.asarray(slots), np.asarray(values)
        keep = values != 0
        slots, values = slots[keep], values[keep]
        order = np.argsort(slots, kind="stable")
        return cls(slots[order], values[order])

    def get(self, slot: int) -> int:
        value = self.changed.get(slot)
        if value is not None:
            return value
        at = int(np.searchsorted(self.slots, np.int32(slot)))  # a Python int would cast the whole array
        if at < len(self.slots) and int(self.slots[at]) == slot:
            return int(self.values[at])
        return 0

    def set(self, slot: int, value: int) -> None:
        """Give ``slot`` a value (0: none)."""
        self.changed[slot] = value
        self._changed_arrays = None

    def get_many(self, slots: np.ndarray) -> np.ndarray:
        """The values of ``slots`` (``int64``, 0 where there is none), in that order."""
        out = np.zeros(len(slots), dtype=np.int64)
        if not len(slots):
            return out
        self._patch(self.slots, self.values, slots, out)
        if self.changed:
            arrays = self._changed_arrays
            if arrays is None:
                keys = np.fromiter(self.changed, dtype=np.int64, count=len(self.changed))
                values = np.fromiter(self.changed.values(), dtype=np.int64, count=len(self.changed))
                order = np.argsort(keys)
                arrays = self._changed_arrays = (keys[order], values[order])
            self._patch(*arrays, slots, out)
        return out

    @staticmethod
    def _patch(keys: np.ndarray, values: np.ndarray, slots: np.ndarray, out: np.ndarray) -> None:
        if not len(keys):
            return
        at = np.searchsorted(keys, slots)
        np.minimum(at, len(keys) - 1, out=at)
        hit = keys[at] == slots
        out[hit] = values[at[hit]]

    def empty(self) -> bool:
        """Whether no slot has a value (nor had one set since the last merge)."""
        return not len(self.slots) and not self.changed

    def holders(self, value: int) -> np.ndarray:
        """The slots whose value is ``value`` (not 0)."""
        found = self.slots[self.values == value]
        if self.changed:
            found = [s for s in found.tolist() if s not in self.changed]
            found += [s for s, v in self.changed.items() if v == value]
            return np.array(sorted(found), dtype=np.int64)
        return found.astype(np.int64)

    def arrays(self, without: np.ndarray | Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
        """(slots, values), sorted by slot, of every slot with a value, except the slots ``without``.
        The arrays themselves when nothing changed since they were built (they are never changed in
        place), else new ones."""
        slots, values = self.slots, self.values
        if self.changed:
            keys = np.fromiter(self.changed, dtype=np.int64, count=len(self.changed))
            stay = ~_members(slots.astype(np.int64), np.sort(keys))
            new = np.fromiter(self.changed.values(), dtype=np.int64, count=len(self.changed))
            slots = np.concatenate([slots[stay], keys[new != 0].astype(np.int32)])
            values = np.concatenate([values[stay], new[new != 0]])
            order = np.argsort(slots, kind="stable")
            slots, values = slots[order], values[order]
        if len(without) and len(slots):
            stay = ~_members(slots, np.unique(np.asarray(without, dtype=np.int32)))
            slots, values = slots[stay], values[stay]
        return slots, values

    def merged(self) -> _Sparse:
        """A new object with every change written into the sorted arrays."""
        return _Sparse(*self.arrays())

    def moved(self, remap: np.ndarray, n: int) -> _Sparse:
        """A new object with slot ``s`` renamed ``remap[s]``, keeping only the slots renamed below ``n``."""
        slots, values = self.arrays()
        slots = remap[slots]
        keep = slots < n
        return _Sparse.from_pairs(slots[keep], values[keep])

    def nbytes(self) -> int:
        return self.slots.nbytes + self.values.nbytes + len(self.changed) * 100
