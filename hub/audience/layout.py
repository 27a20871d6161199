"""The sorted arrays of the audience index, built whole (when loading) or merged with changes (compaction).

* addresses sorted by grid cell, with the keys and start offsets of the occupied cells;
* the id lookup: 31-bit id hashes sorted, with their slots;
* the shared-contact flags: which slots hold a phone number or e-mail hash someone else holds too
  (and which hold a second number), and a bitmap of the values present, which proves most values set
  later unique.

Functions here take and return plain arrays, and never change their inputs: compaction runs them in
another thread while the index keeps answering queries from the arrays it has.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import geo
from .columns import _members, _repeated
from .tables import _SECOND, _SHARED_EMAIL, _SHARED_PHONE


def cell_keys(lat32: np.ndarray, lon32: np.ndarray, cell_deg: float, ncols: int) -> np.ndarray:
    """The grid cell key (``row * ncols + col``) of each point, from its float32 coordinates."""
    rows, cols = geo.cells_np(lat32, lon32, cell_deg)
    rows *= ncols
    rows += cols
    return rows


def address_arrays(
    lat: np.ndarray, lon: np.ndarray, pid: np.ndarray, wset: np.ndarray, cell_deg: float, ncols: int
) -> dict[str, Any]:
    """Addresses sorted by grid cell, and the cell lookup. Cells come from the float32 values."""
    lat32 = lat.astype(np.float32)
    lon32 = lon.astype(np.float32)
    keys = cell_keys(lat32, lon32, cell_deg, ncols)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    if len(keys):
        first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        cells, cell_start = keys[first], np.r_[first, len(keys)].astype(np.int64)
    else:
        cells, cell_start = np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
    return {
        "_a_lat": lat32[order],
        "_a_lon": lon32[order],
        "_a_pid": pid[order].astype(np.int32),
        "_a_set": wset[order].astype(np.int32),
        "_cell_keys": cells,
        "_cell_start": cell_start,
        "_main_addresses": len(keys),
    }


def merge_addresses(
    main: dict[str, np.ndarray],
    keep: np.ndarray | None,
    added: dict[str, np.ndarray],
    cell_deg: float,
    ncols: int,
) -> dict[str, Any]:
    """The sorted addresses without the entries ``keep`` rules out (``None``: keep all) and with the
    ``added`` ones (float32 ``lat``/``lon``, ``pid``, ``set``) merged in at their cells.

    Costs one pass over the sorted arrays and a sort of the added entries only: the positions of the
    added entries come from the cell lookup, the new cell lookup from per-cell counts.
    """
    cells, cell_start = main["_cell_keys"], main["_cell_start"]
    keys = cell_keys(added["lat"], added["lon"], cell_deg, ncols)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    added = {name: values[order] for name, values in added.items()}
    dropped = np.flatnonzero(~keep) if keep is not None else np.zeros(0, dtype=np.int64)
    # each added entry goes after the entries of its cell (``cell_start`` of the next occupied cell),
    # counted among the entries that stay
    at = cell_start[np.searchsorted(cells, keys, side="right")]
    at -= np.searchsorted(dropped, at)
    out: dict[str, Any] = {}
    for column, name in (("_a_lat", "lat"), ("_a_lon", "lon"), ("_a_pid", "pid"), ("_a_set", "set")):
        kept = main[column][keep] if len(dropped) else main[column]
        out[column] = np.insert(kept, at, added[name]) if len(keys) else kept
        del kept
    # the new cell lookup: the old counts, less the dropped entries, plus the added ones
    counts = np.diff(cell_start)
    if len(dropped):
        counts = counts - np.bincount(
            np.searchsorted(cell_start, dropped, side="right") - 1, minlength=len(counts)
        )
    new_cells, new_counts = np.unique(keys, return_counts=True)
    every = np.union1d(cells, new_cells)
    total = np.zeros(len(every), dtype=np.int64)
    total[np.searchsorted(every, cells)] += counts
    total[np.searchsorted(every, new_cells)] += new_counts
    occupied = total > 0
    out["_cell_keys"] = every[occupied].astype(np.int64)
    out["_cell_start"] = np.r_[0, np.cumsum(total[occupied])].astype(np.int64)
    out["_main_addresses"] = len(out["_a_pid"])
    return out


def current_entries(state: np.ndarray, pid: np.ndarray, current: int, *, chunk: int = 1 << 20) -> np.ndarray:
    """Which entries name a slot whose state is ``current``: a gather a chunk at a time, so that the
    ``int32`` slot numbers are widened to indices a million at a time rather than all at once."""
    out = np.empty(len(pid), dtype=bool)
    for a in range(0, len(pid), chunk):
        np.equal(np.take(state, pid[a : a + chunk]), current, out=out[a : a + chunk])
    return out


def id_lookup(idh: np.ndarray) -> dict[str, np.ndarray]:
    """The id hashes of the slots, sorted, with their slots."""
    order = np.argsort(idh, kind="stable")
    return {"_idh_sorted": idh[order].astype(np.int32), "_idh_slot": order.astype(np.int32)}


def merge_ids(
    idh_sorted: np.ndarray, idh_slot: np.ndarray, keep: np.ndarray | None, hashes: np.ndarray, slots: np.ndarray
) -> dict[str, np.ndarray]:
    """The id lookup without the entries ``keep`` rules out and with (``hashes``, ``slots``) added."""
    if keep is not None and not keep.all():
        idh_sorted, idh_slot = idh_sorted[keep], idh_slot[keep]
    order = np.argsort(hashes, kind="stable")
    hashes = hashes[order].astype(np.int32)
    slots = slots[order].astype(np.int32)
    at = np.searchsorted(idh_sorted, hashes, side="right")
    return {"_idh_sorted": np.insert(idh_sorted, at, hashes), "_idh_slot": np.insert(idh_slot, at, slots)}


def shared_flags(
    phone: np.ndarray, second_slots: np.ndarray, second_numbers: np.ndarray, email_h: np.ndarray
) -> np.ndarray:
    """Per slot, whether one of its phone numbers (the one in the ``phone`` column, or its second
    number: ``second_numbers`` of ``second_slots``) occurs in another slot too, as either
    (:data:`_SHARED_PHONE`), whether its e-mail hash occurs in another slot's (:data:`_SHARED_EMAIL`),
    and whether it has a second number (:data:`_SECOND`). Slots without a value (0) may be flagged:
    they never reach the comparison."""
    if len(second_numbers):
        ordered = np.concatenate([phone, second_numbers])
        ordered.sort()
        repeats = ordered[1:][ordered[1:] == ordered[:-1]]
        del ordered
        flags = np.where(_members(phone, repeats), _SHARED_PHONE, 0).astype(np.uint8)
        flags[second_slots[_members(second_numbers, repeats)]] |= _SHARED_PHONE
        flags[second_slots] |= _SECOND
    else:
        flags = np.where(_repeated(phone), _SHARED_PHONE, 0).astype(np.uint8)
    flags |= np.where(_repeated(email_h), _SHARED_EMAIL, 0).astype(np.uint8)
    return flags


VALUE_BITS_MAX = 25
"""A value bitmap has about 12 bits per value, at most ``2 ** VALUE_BITS_MAX`` (4 MB): under 9 % false
positives for 3,000,000 values, fewer for fewer values."""

_GOLDEN = 0x9E3779B97F4A7C15


def value_bucket(value: int, bits: np.ndarray) -> int:
    """The bit of a (non-negative) phone number or e-mail hash in the value bitmap ``bits``."""
    return ((value * _GOLDEN) & 0xFFFFFFFFFFFFFFFF) >> (64 - (len(bits) * 8).bit_length() + 1)


def value_bitmap(values: np.ndarray, *more: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    """A bitmap (``uint8``, little-endian bits) with the bit of every non-zero value of ``values`` (and
    of the ``more`` arrays) set: a value whose bit is clear occurs in none of them. Built a chunk at a
    time (no large temporaries)."""
    size = min(VALUE_BITS_MAX, max(16, ((len(values) + sum(map(len, more))) * 12).bit_length()))
    bits = np.zeros(1 << (size - 3), dtype=np.uint8)
    golden, shift = np.uint64(_GOLDEN), np.uint64(64 - size)
    for column in (values, *more):
        for a in range(0, len(column), chunk):
            part = column[a : a + chunk]
            part = part[part != 0].astype(np.int64).view(np.uint64)
            h = (part * golden) >> shift
            byte = (h >> np.uint64(3)).astype(np.intp)
            np.bitwise_or.at(bits, byte, np.left_shift(1, h & np.uint64(7)).astype(np.uint8))
    return bits
