"""Compaction of the audience index: folding the changes since the last build into its arrays, a bounded
step at a time.

Changes leave four kinds of pending work, each kept within a bound so that queries stay as fast and
the index as small as a freshly built one:

* ``addresses``: the overlay (addresses written since), and entries of the sorted arrays hidden by a
  removal or an update. The step merges the overlay into the sorted arrays and drops hidden entries,
  in one pass over the arrays (no full sort).
* ``ids``: ids of newcomers, looked up in a dict, and stale entries of the sorted id lookup.
* ``id_strings`` and ``email_strings``: texts replaced, appended or erased since, kept aside; the step
  writes one column's texts into a new byte string.
* ``flags``: shared-contact flags (phone numbers, e-mail) set since they were counted (a flag may
  outlive the sharing), values added to the bitmaps of values present since they were built, and
  second numbers (to call) set or erased since, kept aside; the step writes the second numbers into
  new sorted arrays, counts the flags and builds the bitmaps again.
* ``slots``: empty slots nobody took (more participants left than came). The step moves the
  participants of the last slots into the empty ones below and cuts the columns short; it waits for
  the ``addresses`` step, so that no hidden entry names a slot that changes hands.

A step rewrites one of these structures, never the whole index, so the memory it needs aside is at
most that structure's size (the sorted addresses, about a quarter of the index, are the largest),
not a second index. :meth:`compaction` computes the most pressing step without changing the index:
it is safe to run in another thread while the index answers queries, as long as nothing changes it
meanwhile; :meth:`apply_compaction` installs it on the index's own thread, and refuses a step
computed before a change.

The owner of the index runs the steps off its event loop::

    while index.needs_compaction():
        index.apply_compaction(await asyncio.to_thread(index.compaction))

with changes held back meanwhile (under the lock that orders its writes). Every bound has a hard
limit twice as high (:data:`HARD_LIMIT`) where, with ``auto_compact``, a change compacts on the spot
(on the calling thread) so that the index stays bounded when nobody runs the steps aside.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from . import columns
from .columns import _Grow
from .layout import current_entries, merge_addresses, merge_ids, shared_flags, value_bitmap
from .tables import _LIVE

STEPS = ("addresses", "ids", "id_strings", "email_strings", "flags", "slots")
"""The kinds of compaction step, in the order they are preferred when equally pressing."""

HARD_LIMIT = 2.0
"""How far past its bound pending work may grow before a change compacts on the spot (``auto_compact``).

The bounds keep what pending work adds to the index's memory within a few percent each (together
about 10 % at the bounds, 15 % at the hard limits), and what it adds to a query's time smaller still."""


def _find_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc
        return None


_malloc_trim = _find_trim()


def release_freed_memory() -> None:
    """Give the memory of freed arrays back to the system, where the C library allows (glibc).

    glibc serves allocations below its mmap threshold, which it raises to the size of the largest
    array freed (up to 32 MB), from its heap, and keeps what they free there: a process whose index
    replaced its arrays step after step would grow by their sizes. ``malloc_trim`` returns it.
    """
    if _malloc_trim is not None:
        _malloc_trim(0)


@dataclass(frozen=True)
class Compaction:
    """One compaction step computed by :meth:`AudienceIndex.compaction`, ready to install.

    ``kind`` is one of :data:`STEPS`, or ``"none"`` when there was nothing to compact.
    """

    changes: int
    fields: Mapping[str, Any]
    kind: str = "none"


class _Compacting:
    """Compaction, as part of :class:`~hub.audience.AudienceIndex`."""

    def _pressures(self) -> dict[str, float]:
        """Each kind of pending work relative to its bound (``>= 1``: a step is due)."""
        slots = self._state.n
        addresses = max(self._o_pid.n / max(1024, self._main_addresses // 256), self._hidden / max(1024, slots // 256))
        empty = len(self._free) / max(1024, slots // 64)
        if self._unblanked:
            empty = 0.0  # moving participants between slots waits until every empty slot is erased
        elif self._hidden:
            # ... and until no hidden entry is left: the addresses step goes first
            addresses = max(addresses, empty)
            empty = 0.0
        return {
            "addresses": addresses,
            "ids": (len(self._new_ids) + self._stale_ids) / max(1024, slots // 128),
            "id_strings": len(self._ids.aside) / max(1024, slots // 128),
            "email_strings": len(self._emails.aside) / max(1024, slots // 128),
            "flags": max(
                self._marked / max(1024, slots // 256),
                self._bit_adds / max(1024, slots // 8),
                len(self._seconds.changed) / max(1024, slots // 256),
            ),
            "slots": empty,
        }

    def _pending(self) -> dict[str, int]:
        """Pending work by kind, for :meth:`stats`."""
        return {
            "overlay_addresses": self._o_pid.n,
            "hidden_slots": self._hidden,
            "new_ids": len(self._new_ids),
            "stale_ids": self._stale_ids,
            "id_strings_aside": len(self._ids.aside),
            "email_strings_aside": len(self._emails.aside),
            "shared_marks": self._marked,
            "value_bits_added": self._bit_adds,
            "second_numbers_aside": len(self._seconds.changed),
            "empty_slots": len(self._free) + len(self._unblanked),
        }

    def _most_pressing(self) -> tuple[str, float]:
        pressures = self._pressures()
        kind = max(STEPS, key=lambda k: pressures[k])  # the first of equals, in the order of STEPS
        return kind, pressures[kind]

    def needs_compaction(self) -> bool:
        """Whether some pending work has grown past its bound: time to run a :meth:`compaction` step."""
        return self._most_pressing()[1] >= 1.0

    @property
    def compacted(self) -> bool:
        """Whether no compaction step is due (see :meth:`needs_compaction`).

        Pending work within its bounds costs queries and memory little, and a snapshot holds it as it
        is, so an index does not need to be compacted to be saved. :meth:`compact` empties it all.
        """
        return not self.needs_compaction()

    def compaction(self) -> Compaction:
        """The most pressing compaction step, computed without changing this index: safe to run in
        another thread while the index answers queries, as long as nothing changes it meanwhile (see
        :meth:`apply_compaction`). Of kind ``"none"`` when nothing is pending."""
        changes = self._changes
        kind, pressure = self._most_pressing()
        if pressure <= 0:
            return Compaction(changes, {}, "none")
        return Compaction(changes, getattr(self, "_compact_" + kind)(), kind)

    def apply_compaction(self, compaction: Compaction) -> bool:
        """Install a :meth:`compaction` step; ``False`` (nothing done) if the index changed since it
        was computed."""
        if compaction.changes != self._changes:
            return False
        kind = compaction.kind
        if kind == "none":
            return True
        self._set(compaction.fields)
        if kind == "addresses":
            state = self._state.v
            np.bitwise_and(state, _LIVE, out=state)  # every current address is in the sorted arrays now
            self._hidden = 0
            self._empty_overlay()
        elif kind == "ids":
            self._new_ids = {}
            self._stale_ids = 0
        elif kind == "flags":
            self._marked = 0
            self._bit_adds = 0
        release_freed_memory()  # the arrays replaced (unless something still holds them)
        return True

    def compact(self) -> None:
        """Run every compaction step now, on this thread, until nothing is pending."""
        if self._unblanked and not self._leases:
            self._blank_pending()
        while True:
            step = self.compaction()
            if step.kind == "none":
                return
            self.apply_compaction(step)

    def _maybe_compact(self) -> None:
        """With ``auto_compact``, run the steps whose pending work passed its hard limit."""
        if not self.auto_compact:
            return
        while True:
            kind, pressure = self._most_pressing()
            if pressure <= HARD_LIMIT:
                return
            self.apply_compaction(Compaction(self._changes, getattr(self, "_compact_" + kind)(), kind))

    # -- the steps -------------------------------------------------------------------------------

    def _compact_addresses(self) -> dict[str, Any]:
        """The sorted addresses without the hidden entries, with the current overlay entries merged in."""
        keep = current_entries(self._state.v, self._a_pid, _LIVE) if self._hidden else None
        k = self._o_pid.n
        current = self._o_live.a[:k]
        added = {
            "lat": self._o_lat.a[:k][current],
            "lon": self._o_lon.a[:k][current],
            "pid": self._o_pid.a[:k][current],
            "set": self._o_set.a[:k][current],
        }
        main = {name: getattr(self, name) for name in ("_a_lat", "_a_lon", "_a_pid", "_a_set")}
        main["_cell_keys"], main["_cell_start"] = self._cell_keys, self._cell_start
        return merge_addresses(main, keep, added, self.cell_deg, self._ncols)

    def _compact_ids(self) -> dict[str, Any]:
        """The sorted id lookup without stale entries, with the newcomers' ids."""
        n = self._state.n
        slots = np.fromiter(self._new_ids.values(), dtype=np.int32, count=len(self._new_ids))
        # an entry stays if its slot is occupied and not by a newcomer (or a participant moved into
        # it): such a slot's entry names someone else; slots past the end were cut off
        current = np.zeros(n + 1, dtype=np.uint8)
        current[:n] = self._state.v != 0
        current[slots] = 0
        slot_of = self._idh_slot
        keep = current_entries(current, np.minimum(slot_of, n), 1)
        h32 = columns._h32
        hashes = np.fromiter(map(h32, self._new_ids), dtype=np.int32, count=len(self._new_ids))
        return merge_ids(self._idh_sorted, slot_of, keep, hashes, slots)

    def _compact_id_strings(self) -> dict[str, Any]:
        return {"_ids": self._ids.merged()}

    def _compact_email_strings(self) -> dict[str, Any]:
        return {"_emails": self._emails.merged()}

    def _compact_flags(self) -> dict[str, Any]:
        """The second numbers merged, the shared-contact flags counted again, and the value bitmaps (if
        used) built again."""
        seconds = self._seconds.merged()
        phone = self._phone.v
        bits = {}
        if "_phone" in self._value_bits:
            bits["_phone"] = value_bitmap(phone, seconds.values)
        if "_email_h" in self._value_bits:
            bits["_email_h"] = value_bitmap(self._email_h.v)
        return {
            "_seconds": seconds,
            "_flags": _Grow(shared_flags(phone, seconds.slots, seconds.values, self._email_h.v)),
            "_value_bits": bits,
        }

    def _compact_slots(self) -> dict[str, Any]:
        """The columns cut to the participants' number, those of the last slots moved into empty ones.

        Only the moved participants change slot: their rows, their overlay entries, their entries in
        the sorted addresses (one pass over the slot numbers there) and their id lookup (through the
        newcomers' dict; the old entries become stale). The texts stay where they are, the moved ones
        go aside.
        """
        n = self._state.n
        state = self._state.v
        keep_n = self._live
        src = np.flatnonzero(state[keep_n:]) + keep_n  # participants past the new end
        dst = np.flatnonzero(state[:keep_n] == 0)[: len(src)]  # empty slots before it
        fields: dict[str, Any] = {}
        for name in ("_prof", "_pause", "_phone", "_email_h", "_flags", "_state"):
            values = getattr(self, name).a[:keep_n].copy()
            values[dst] = getattr(self, name).a[src]
            fields[name] = _Grow(values)
        remap = np.arange(n, dtype=np.int32)
        remap[src] = dst
        fields["_seconds"] = self._seconds.moved(remap, keep_n)
        fields["_a_pid"] = remap[self._a_pid]  # moved participants in the sorted arrays (if not MOVED)
        k = self._o_pid.n
        o_pid = _Grow(remap[self._o_pid.a[:k]])
        fields["_o_pid"] = o_pid
        fields["_o_where"] = {int(remap[slot]): where for slot, where in self._o_where.items()}
        new_ids = dict(self._new_ids)
        moved_ids = self._ids.get_many(src)
        stale = self._stale_ids
        for participant_id, s, d in zip(moved_ids, src.tolist(), dst.tolist()):
            if new_ids.get(participant_id) != s:
                stale += 1  # its entry in the sorted lookup names the old slot
            new_ids[participant_id] = d
        fields["_new_ids"] = new_ids
        fields["_stale_ids"] = stale
        fields["_ids"] = self._ids.shrunk(keep_n, src, dst)
        fields["_emails"] = self._emails.shrunk(keep_n, src, dst)
        fields["_free"] = []
        return fields
