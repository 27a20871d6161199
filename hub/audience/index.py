"""The audience index: construction, lookups and changes.

Selection lives in :mod:`.query`, compaction in :mod:`.compaction` and snapshots in :mod:`.snapshots`;
:class:`AudienceIndex` combines them.

Slots. Every participant has a *slot*: a row of the per-participant columns. A participant keeps
their slot for as long as they are in the index: an update overwrites the row in place, a removal
empties it (and erases its contact details), and a newcomer takes an empty slot, or a new one at the
end when there is none. So following changes for any length of time neither grows the columns nor
needs them rewritten.

Leases. A :class:`~hub.audience.Selection` reads the columns when its recipients are materialised,
and the arrays :meth:`~AudienceIndex.snapshot` returns are written out later. While any of those
lives (the index holds them weakly), nothing is overwritten in place: an update then moves the
participant to a new slot at the end, and erasures wait (see :meth:`AudienceIndex._blank_pending`).

Addresses. The sorted arrays hold the addresses as of the last compaction. An update or removal
*hides* the participant's entries there (their slot's state says so), and new addresses go to the
overlay, which queries test after a bounding-box filter. Compaction (:mod:`.compaction`) merges the
overlay into the sorted arrays, a bounded step at a time.
"""

from __future__ import annotations

import math
import weakref
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .. import geo
from ..channel import Contact
from ..models import Area
from ..participants import Address, Participant, pause_end, zone
from . import columns
from .compaction import Compaction, _Compacting
from .columns import _Grow, _Sparse, _Strings
from .layout import address_arrays, id_lookup, shared_flags, value_bitmap, value_bucket
from .loader import IndexLoader, _Columns
from .query import _Queries
from .results import Selection
from .snapshots import _Snapshots
from .tables import (
    _HAS_EMAIL,
    _HAS_MOBILE,
    _HAS_PHONE,
    _INT32_MAX,
    _LIVE,
    _MOVED,
    _SECOND,
    _SHARED_EMAIL,
    _SHARED_PHONE,
    _Profiles,
    _WindowSets,
)

__all__ = ["AudienceIndex", "Compaction", "select_audience"]


class _Leases:
    """The objects handed out that read the index's columns later (recipient lists, snapshot arrays),
    held weakly: while any lives, the index overwrites nothing in place (numpy arrays cannot go in a
    ``WeakSet``: they are not hashable)."""

    __slots__ = ("_refs",)

    def __init__(self) -> None:
        self._refs: dict[int, weakref.ref] = {}

    def add(self, obj: Any) -> None:
        refs = self._refs
        key = id(obj)
        refs[key] = weakref.ref(obj, lambda _, key=key: refs.pop(key, None))

    def __len__(self) -> int:
        return len(self._refs)


class AudienceIndex(_Queries, _Compacting, _Snapshots):
    """All participants' addresses, indexed for fast area selection. See the package and module docs.

    Build with :meth:`build`; keep current with :meth:`upsert` and :meth:`remove`; query with
    :meth:`select`; compact aside with :meth:`needs_compaction`, :meth:`compaction` and
    :meth:`apply_compaction`.
    """

    def __init__(self, *, cell_deg: float = geo.DEFAULT_CELL_DEG, auto_compact: bool = True):
        self.cell_deg = float(cell_deg)
        self.auto_compact = auto_compact
        self._ncols = int(math.ceil(360.0 / self.cell_deg)) + 2
        self._zones: list[str] = []
        self._zone_index: dict[str, int] = {}
        self._languages: list[str] = []
        self._language_index: dict[str, int] = {}
        self._profiles = _Profiles()
        self._wsets = _WindowSets()
        self._changes = 0  # upserts and removals, so a compaction computed aside knows it is current
        #: selections' recipient lists and snapshot arrays that read the columns (see the module docs)
        self._leases = _Leases()
        self._load_main([])

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        participants: Iterable[Participant],
        *,
        cell_deg: float = geo.DEFAULT_CELL_DEG,
        auto_compact: bool = True,
    ) -> AudienceIndex:
        """An index over ``participants`` (ids must be unique; a later duplicate replaces the earlier)."""
        index = cls(cell_deg=cell_deg, auto_compact=auto_compact)
        index._load_main(participants)
        return index

    def _zone_code(self, name: str) -> int:
        code = self._zone_index.get(name)
        if code is None:
            zone(name)  # fails early for unknown zones
            code = self._zone_index[name] = len(self._zones)
            self._zones.append(name)
        return code

    def _language_code(self, lang: str) -> int:
        code = self._language_index.get(lang)
        if code is None:
            code = self._language_index[lang] = len(self._languages)
            self._languages.append(lang)
        return code

    def _row(self, p: Participant) -> tuple[int, int, int, int, int, str]:
        """(profile, pause minutes, digits of the number, of the second number, email hash, email) for
        one participant: the number is the number to text, else the number to call; the second number
        is the number to call where it differs from the number to text (a number is 0 when there is
        none). The profile's contact bits say which the participant has.

        Called once per participant when building: written for speed rather than reuse.
        """
        # only verified contacts enter the index: an unverified one is never alerted. The numbers are
        # those of Participant.sms_number and .voice_number.
        text = call = 0
        call_mobile = False
        for ph in p.phones:
            if ph.verified:
                uses = ph.uses
                if not text and "sms" in uses:
                    text = int(ph.number[1:])
                if "voice" in uses and not call_mobile and (not call or ph.kind == "mobile"):
                    call = int(ph.number[1:])
                    call_mobile = ph.kind == "mobile"
        flags = (_HAS_MOBILE if text else 0) | (_HAS_PHONE if call else 0)
        email = p.email if p.email_verified else None
        if email:
            flags |= _HAS_EMAIL
            email_hash = columns._h32(email)
        else:
            email = ""
            email_hash = 0
        key = (p.channels, p.quiet_hours, p.timezone, p.language, flags)
        prof = self._profiles.index.get(key)
        if prof is None:
            prof = self._profiles.get(
                key, p.channels, p.quiet_hours, self._zone_code(p.timezone), self._language_code(p.language), flags
            )
        pause = 0
        if p.paused_until is not None:
            end = pause_end(p.paused_until, zone(p.timezone))
            pause = min(_INT32_MAX, math.ceil(end.timestamp() / 60.0))
        if text and call and call != text:
            return prof, pause, text, call, email_hash, email
        return prof, pause, text or call, 0, email_hash, email

    def _load_main(self, participants: Iterable[Participant]) -> None:
        loader = IndexLoader(self)
        loader.add_participants(participants)
        loader.finish()

    def _install(self, c: _Columns) -> None:
        """Replace the main arrays with freshly loaded columns (see :class:`IndexLoader`)."""
        n = len(c.prof)
        dead = np.array(self._repeated_ids(c.idh, c.ids), dtype=np.int64)

        # number slots by the grid cell of each participant's first address, so that the participants
        # of one area sit close together in memory (queries gather from these arrays)
        perm = self._locality_order(n, c.lat, c.lon, c.pid)
        inverse = np.empty(n, dtype=np.int32)
        inverse[perm] = np.arange(n, dtype=np.int32)
        self._ids = c.ids.permuted(perm)
        self._emails = c.emails.permuted(perm)
        self._prof = _Grow(c.prof[perm])
        self._pause = _Grow(c.pause[perm])
        self._phone = _Grow(c.phone[perm])
        self._seconds = _Sparse.from_pairs(inverse[c.second_slot], c.second_number)
        self._email_h = _Grow(c.email_h[perm])
        self._state = _Grow(np.full(n, _LIVE, dtype=np.uint8))
        self._live = n
        self._set(address_arrays(c.lat, c.lon, inverse[c.pid] if n else c.pid, c.wset, self.cell_deg, self._ncols))
        self._set(id_lookup(c.idh[perm]))
        self._flags = _Grow(shared_flags(self._phone.v, self._seconds.slots, self._seconds.values, self._email_h.v))
        self._reset_changes()
        for slot in inverse[dead].tolist():  # an id loaded twice: the later record replaced the earlier
            self._kill(int(slot))

    def _set(self, fields: Mapping[str, Any]) -> None:
        for name, value in fields.items():
            setattr(self, name, value)

    def _reset_changes(self) -> None:
        """No changes since the sorted arrays were built: empty overlay, nothing hidden or pending."""
        self._hidden = 0  # slots whose entries in the sorted address arrays are hidden
        self._free: list[int] = []  # empty slots, their contents erased: taken by newcomers
        self._unblanked: list[int] = []  # empty slots not erased yet (a lease was held)
        self._new_ids: dict[str, int] = {}  # ids not in the sorted id lookup, with their slots
        self._stale_ids = 0  # entries of the sorted id lookup whose slot was emptied since
        self._marked = 0  # contact values found shared since the shared ones were counted
        self._value_bits: dict[str, np.ndarray] = {}  # values present: numbers (_phone), e-mail hashes (_email_h)
        self._bit_adds = 0  # values added to those bitmaps since they were built
        self._empty_overlay()

    def _empty_overlay(self) -> None:
        self._o_lat = _Grow(np.zeros(0, dtype=np.float32))
        self._o_lon = _Grow(np.zeros(0, dtype=np.float32))
        self._o_pid = _Grow(np.zeros(0, dtype=np.int32))
        self._o_set = _Grow(np.zeros(0, dtype=np.int32))
        self._o_live = _Grow(np.zeros(0, dtype=bool))
        self._o_where: dict[int, tuple[int, int]] = {}  # slot -> its current overlay entries
        self._o_dead = 0  # overlay entries replaced or removed since

    def _locality_order(self, n: int, lat: np.ndarray, lon: np.ndarray, pid: np.ndarray) -> np.ndarray:
        """A stable permutation of the slots by the grid cell of each participant's first address."""
        keys = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        if len(pid):
            first = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]])  # addresses come grouped by slot
            rows, cols = geo.cells_np(lat[first].astype(np.float32), lon[first].astype(np.float32), self.cell_deg)
            keys[pid[first]] = rows * self._ncols + cols
        return np.argsort(keys, kind="stable")

    @staticmethod
    def _repeated_ids(idh: np.ndarray, ids: _Strings) -> list[int]:
        """Slots whose id appears again later (the later one wins), found via equal hashes."""
        if len(idh) < 2:
            return []
        order = np.argsort(idh, kind="stable")
        h = idh[order]
        same = np.flatnonzero(h[1:] == h[:-1])
        if not len(same):
            return []
        dead: list[int] = []
        groups: dict[int, list[int]] = {}
        for k in np.unique(np.r_[same, same + 1]).tolist():
            groups.setdefault(int(h[k]), []).append(int(order[k]))
        for slots in groups.values():
            last: dict[str, int] = {}
            for slot in sorted(slots):
                text = ids.get(slot)
                earlier = last.get(text)
                if earlier is not None:
                    dead.append(earlier)
                last[text] = slot
        return dead

    # -- changes ---------------------------------------------------------------------------------

    def _find(self, participant_id: str) -> int | None:
        slot = self._new_ids.get(participant_id)
        if slot is not None:
            return slot
        h = columns._h32(participant_id)
        key = np.int32(h)  # a Python int would make numpy cast the whole array on every call
        lo = int(np.searchsorted(self._idh_sorted, key, side="left"))
        hi = int(np.searchsorted(self._idh_sorted, key, side="right"))
        state = self._state.a
        n = self._state.n
        for k in range(lo, hi):
            s = int(self._idh_slot[k])
            # an entry may be stale: its slot emptied, given to someone else, or cut off since
            if s < n and state[s] and self._ids.get(s) == participant_id:
                return s
        return None

    def with_email(self, email: str) -> list[str]:
        """Ids of the participants whose verified e-mail address is ``email`` (one vectorised pass
        over the address hashes: a few milliseconds for millions of participants)."""
        key = np.int32(columns._h32(email))
        state = self._state.v
        found: dict[str, None] = {}
        for slot in np.flatnonzero(self._email_h.v == key).tolist():
            if state[slot] and self._emails.get(slot) == email:
                found[self._ids.get(slot)] = None
        return [pid for pid in found if self._find(pid) is not None]

    def __contains__(self, participant_id: object) -> bool:
        return isinstance(participant_id, str) and self._find(participant_id) is not None

    def __len__(self) -> int:
        return self._live

    def upsert(self, participant: Participant) -> None:
        """Add a participant, or replace the one with the same id."""
        pr, pa, ph, se, eh, email = self._row(participant)
        leased = bool(self._leases)
        if self._unblanked and not leased:
            self._blank_pending()
        slot = self._find(participant.id)
        if slot is not None and not leased:
            self._hide(slot)
            flags = int(self._flags.a[slot])
            second = self._seconds.get(slot) if flags & _SECOND else 0
            if ph != int(self._phone.a[slot]) or se != second:
                flags &= ~(_SHARED_PHONE | _SECOND)
                flags |= self._shared_flag(slot, ph, "_phone") | self._shared_flag(slot, se, "_phone")
                if se:
                    flags |= _SECOND
                if se != second:
                    self._seconds.set(slot, se)
            if email != self._emails.get(slot):
                flags = (flags & ~_SHARED_EMAIL) | self._shared_flag(slot, eh if email else 0, "_email_h")
                self._emails.set(slot, email)
            self._flags.a[slot] = flags
            self._prof.a[slot] = pr
            self._pause.a[slot] = pa
            self._phone.a[slot] = ph
            self._email_h.a[slot] = eh
            self._state.a[slot] = _LIVE | _MOVED
        else:
            if slot is not None:
                self._kill(slot)  # leased: the participant moves to a new slot, the old one stays as it is
            slot = self._new_slot(participant.id, pr, pa, ph, se, eh, email, leased)
        self._add_addresses(slot, participant.addresses)
        self._changes += 1
        self._maybe_compact()

    add = upsert

    def remove(self, participant_id: str) -> bool:
        """Remove a participant; ``False`` if unknown."""
        slot = self._find(participant_id)
        if slot is None:
            return False
        if self._unblanked and not self._leases:
            self._blank_pending()
        self._kill(slot)
        self._changes += 1
        self._maybe_compact()
        return True

    def _new_slot(
        self, participant_id: str, pr: int, pa: int, ph: int, se: int, eh: int, email: str, leased: bool
    ) -> int:
        """A slot for a participant not in the index: an empty one, else a new one at the end."""
        reuse = bool(self._free) and not leased
        slot = self._free.pop() if reuse else self._state.n
        flags = self._shared_flag(slot, ph, "_phone") | self._shared_flag(slot, se, "_phone")
        flags |= self._shared_flag(slot, eh if email else 0, "_email_h")
        if se:
            flags |= _SECOND
            self._seconds.set(slot, se)  # an empty slot has none (it was erased), a new one neither
        if reuse:
            self._prof.a[slot] = pr
            self._pause.a[slot] = pa
            self._phone.a[slot] = ph
            self._email_h.a[slot] = eh
            self._flags.a[slot] = flags
            self._state.a[slot] = _LIVE | _MOVED  # entries of the previous occupant stay hidden
            self._ids.set(slot, participant_id)
            self._emails.set(slot, email)
        else:
            self._prof.append(pr)
            self._pause.append(pa)
            self._phone.append(ph)
            self._email_h.append(eh)
            self._flags.append(flags)
            self._state.append(_LIVE | _MOVED)  # no entries in the sorted arrays
            self._ids.append(participant_id)
            self._emails.append(email)
        self._new_ids[participant_id] = slot
        self._live += 1
        return slot

    def _shared_flag(self, slot: int, value: int, column: str) -> int:
        """The shared flag for a value of a contact column (``_phone``: digits of a number, in the
        column or as the second number; ``_email_h``: an e-mail hash; 0: none) about to be written to
        ``slot``; every other slot holding the value (for a number: in the column or as its second
        number) gets the flag too, so the flags stay exact.

        The bitmap of the values present proves most values unique at once (it is built on the first
        change, and counts every value set since); a value whose bit is set costs one scan of the
        column (about a millisecond for 3,000,000 participants).
        """
        if not value:
            return 0
        values = getattr(self, column)
        number = column == "_phone"
        bits = self._value_bits.get(column)
        if bits is None:
            more = (self._seconds.arrays()[1],) if number else ()
            bits = self._value_bits[column] = value_bitmap(values.v, *more)
        h = value_bucket(value, bits)
        bit = 1 << (h & 7)
        if not bits[h >> 3] & bit:
            bits[h >> 3] |= bit
            self._bit_adds += 1
            return 0
        same = np.flatnonzero(values.v == value)
        if number and not self._seconds.empty():
            same = np.union1d(same, self._seconds.holders(value))
        same = same[(same != slot) & (np.take(self._state.a, same) != 0)]
        if not len(same):
            return 0
        flag = _SHARED_PHONE if number else _SHARED_EMAIL
        self._flags.a[same] |= flag
        self._marked += 1
        return flag

    def _add_addresses(self, slot: int, addresses: Sequence[Address]) -> None:
        start = self._o_pid.n
        for a in addresses:
            self._o_lat.append(a.lat)
            self._o_lon.append(a.lon)
            self._o_pid.append(slot)
            self._o_set.append(self._wsets.get(a.availability) if a.availability else 0)
            self._o_live.append(True)
        if self._o_pid.n > start:
            self._o_where[slot] = (start, self._o_pid.n)

    def _hide(self, slot: int) -> None:
        """Hide a slot's current addresses: its entries in the sorted arrays, or in the overlay."""
        if self._state.a[slot] == _LIVE:
            self._hidden += 1
        where = self._o_where.pop(slot, None)
        if where is not None:
            self._o_live.a[where[0] : where[1]] = False
            self._o_dead += where[1] - where[0]

    def _kill(self, slot: int) -> None:
        """Empty a slot: its participant is gone (erased now, or when no lease is held any more)."""
        self._hide(slot)
        participant_id = self._ids.get(slot)
        if self._new_ids.get(participant_id) == slot:
            del self._new_ids[participant_id]
        else:
            self._stale_ids += 1
        self._state.a[slot] = 0
        self._live -= 1
        if self._leases:
            self._unblanked.append(slot)
        else:
            self._blank(slot)

    def _blank(self, slot: int) -> None:
        """Erase an empty slot's contents (contact details, id, preferences) and offer it to newcomers."""
        self._prof.a[slot] = 0
        self._pause.a[slot] = 0
        self._phone.a[slot] = 0
        if self._flags.a[slot] & _SECOND:
            self._seconds.set(slot, 0)
        self._email_h.a[slot] = 0
        self._flags.a[slot] = 0
        self._ids.blank(slot)
        self._emails.blank(slot)
        self._free.append(slot)

    def _blank_pending(self) -> None:
        """Erase the slots emptied while a lease was held (call only when none is). A change: a
        compaction step computed meanwhile is refused."""
        pending, self._unblanked = self._unblanked, []
        for slot in pending:
            self._blank(slot)
        if pending:
            self._changes += 1

    @property
    def overlay_size(self) -> int:
        """Addresses added since the last compaction of the addresses (replaced ones included)."""
        return self._o_pid.n

    # -- introspection ---------------------------------------------------------------------------

    def nbytes(self) -> int:
        """Approximate memory held by the index, in bytes."""
        arrays = (self._a_lat, self._a_lon, self._a_pid, self._a_set, self._cell_keys, self._cell_start)
        arrays += (self._idh_sorted, self._idh_slot)
        total = sum(a.nbytes for a in arrays)
        grown = (self._prof, self._pause, self._phone, self._email_h, self._state, self._flags)
        grown += (self._o_lat, self._o_lon, self._o_pid, self._o_set, self._o_live)
        total += sum(g.nbytes() for g in grown)
        total += self._ids.nbytes() + self._emails.nbytes() + self._seconds.nbytes()
        total += (len(self._new_ids) + len(self._o_where)) * 100 + (len(self._free) + len(self._unblanked)) * 36
        total += sum(bits.nbytes for bits in self._value_bits.values())
        return total

    def stats(self) -> dict[str, Any]:
        """Sizes for monitoring: participants, addresses, overlay, tombstones, pending changes, memory."""
        return {
            "participants": len(self),
            "addresses": self._main_addresses + self.overlay_size - self._o_dead,
            "overlay_addresses": self.overlay_size,
            "tombstones": self._hidden,
            "slots": self._state.n,
            "free_slots": len(self._free) + len(self._unblanked),
            "pending": self._pending(),
            "cells": len(self._cell_keys),
            "profiles": len(self._profiles.channels),
            "window_sets": len(self._wsets.index),
            "bytes": self.nbytes(),
        }


def select_audience(
    participants: Iterable[Participant],
    area: Area,
    channels: Mapping[str, Contact | str],
    at: datetime,
    *,
    bypass_quiet_hours: bool = False,
    count_only: bool = False,
) -> Selection:
    """One-off selection without keeping an index (small sets, tests, dry-runs)."""
    return AudienceIndex.build(participants).select(
        area, channels, at, bypass_quiet_hours=bypass_quiet_hours, count_only=count_only
    )
