"""The index as plain tables and arrays for :mod:`hub.snapshot`, and back.

A snapshot holds the index as it is, changes pending compaction included (the overlay, hidden
entries, ids and texts aside), so saving one needs no compaction: writing it costs about the same
however many changes the index has followed. It holds nothing of the participants removed: their
slots are erased (:meth:`~hub.audience.AudienceIndex._blank`) and their entries in the sorted
address arrays blanked (NaN, which no area contains) before it is taken.

Layout 4 (this module) holds one phone column (``phone``: the number to text, else the number to
call) and, for the few participants whose number to call differs from their number to text, that
number in sparse arrays sorted by slot (``second_slots``, ``second_numbers``; the slots' flags have
the bit that says so). Layout 3 held a full column for each (``phone`` and ``voice``); layouts 1 and 2
held one number per participant (the first mobile, else the first phone) and profiles whose contact
bits meant that. Other layouts are refused (``ValueError``): the hub then rebuilds its index from the
store, as a hub of an earlier layout does with a layout 4 snapshot. Layout 2 added the slot states,
the overlay and the pending work to layout 1 (one compacted index).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..participants import QuietHours, Window
from .columns import _Grow, _Sparse, _Strings
from .layout import current_entries
from .tables import _LIVE

if TYPE_CHECKING:
    from .index import AudienceIndex

LAYOUT = 4


class _Snapshots:
    """Snapshots, as part of :class:`~hub.audience.AudienceIndex`."""

    def snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The index as (small tables, arrays) for :mod:`hub.snapshot`, pending changes included.

        The arrays returned are not changed by later updates: while they are held, the index
        overwrites nothing in place (they are leases, see :mod:`hub.audience.index`), so they may be
        written out in another thread while the index keeps serving and changing.
        """
        leased = bool(self._leases)
        if self._unblanked and not leased:
            self._blank_pending()
        pending = sorted(self._unblanked)  # emptied while a lease is held: erased in copies here
        a_lat, a_lon = self._a_lat[:], self._a_lon[:]
        if self._hidden:
            hidden = ~current_entries(self._state.v, self._a_pid, _LIVE)
            if leased:
                a_lat, a_lon = a_lat.copy(), a_lon.copy()
            a_lat[hidden] = np.nan
            a_lon[hidden] = np.nan
            del hidden
        columns = {
            "prof": self._prof.v,
            "pause": self._pause.v,
            "phone": self._phone.v,
            "email_h": self._email_h.v,
        }
        # the second numbers as they are, without those of the slots erased in copies here (new arrays
        # unless nothing changed since they were built, and those are never changed in place)
        second_slots, second_numbers = self._seconds.arrays(without=pending)
        flags = self._flags.v.copy()
        ids_blob = self._ids.used_blob()
        emails_blob = self._emails.used_blob()
        if pending:
            columns = {name: values.copy() for name, values in columns.items()}
            for values in (*columns.values(), flags):
                values[pending] = 0
            ids_blob, emails_blob = self._ids.blanked_blob(pending), self._emails.blanked_blob(pending)
        ids_aside_slots, ids_aside = self._ids.aside_arrays(set(pending))
        emails_aside_slots, emails_aside = self._emails.aside_arrays(set(pending))
        k = self._o_pid.n
        current = self._o_live.a[:k]

        p = self._profiles
        keys = sorted(p.index.items(), key=lambda kv: kv[1])
        profiles = []
        for (channels, quiet, tz, lang, contacts), _ in keys:
            q = [quiet.start, quiet.end, list(quiet.channels)] if quiet else None
            profiles.append([list(channels), q, tz, lang, contacts])
        window_sets = sorted(self._wsets.index.items(), key=lambda kv: kv[1])
        windows = [[[list(w.days), w.start, w.end] for w in ws] for ws, _ in window_sets]
        meta = {
            "layout": LAYOUT,
            "cell_deg": self.cell_deg,
            "hash": "crc32",
            "zones": list(self._zones),
            "languages": list(self._languages),
            "profiles": profiles,
            "window_sets": windows,
            "hidden": self._hidden,
            "stale_ids": self._stale_ids,
            "shared_marks": self._marked,
        }
        arrays = {
            "a_lat": a_lat,
            "a_lon": a_lon,
            "a_pid": self._a_pid,
            "a_set": self._a_set,
            "cell_keys": self._cell_keys,
            "cell_start": self._cell_start,
            "idh_sorted": self._idh_sorted,
            "idh_slot": self._idh_slot,
            **columns,
            "second_slots": second_slots,
            "second_numbers": second_numbers,
            "flags": flags,
            "state": self._state.v.copy(),
            "ids_blob": ids_blob,
            "ids_starts": self._ids.starts,
            "ids_aside_slots": ids_aside_slots,
            "ids_aside": ids_aside,
            "emails_blob": emails_blob,
            "emails_starts": self._emails.starts,
            "emails_aside_slots": emails_aside_slots,
            "emails_aside": emails_aside,
            "new_id_slots": np.fromiter(self._new_ids.values(), dtype=np.int32, count=len(self._new_ids)),
            "o_lat": self._o_lat.a[:k][current],
            "o_lon": self._o_lon.a[:k][current],
            "o_pid": self._o_pid.a[:k][current],
            "o_set": self._o_set.a[:k][current],
        }
        for name in ("a_lat", "a_lon", *columns, "ids_blob", "emails_blob"):
            self._leases.add(arrays[name])  # views of what the index would otherwise overwrite in place
        return meta, arrays

    @classmethod
    def from_snapshot(
        cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray], *, auto_compact: bool = True
    ) -> AudienceIndex:
        """The index :meth:`snapshot` described. Raises ``ValueError`` for a snapshot it cannot use."""
        if meta.get("hash") != "crc32":
            raise ValueError(f"snapshot hashes with {meta.get('hash')!r}, this index with crc32")
        layout = int(meta.get("layout", 1))
        if layout != LAYOUT:
            raise ValueError(f"snapshot layout {layout}, this index reads {LAYOUT}")
        index = cls(cell_deg=float(meta["cell_deg"]), auto_compact=auto_compact)
        for name in meta["zones"]:
            index._zone_code(name)
        for lang in meta["languages"]:
            index._language_code(lang)
        zones, languages = meta["zones"], meta["languages"]
        for channels, q, tz, lang, contacts in meta["profiles"]:
            quiet = QuietHours(q[0], q[1], tuple(q[2])) if q else None
            key = (tuple(channels), quiet, tz, lang, contacts)
            index._profiles.get(key, channels, quiet, zones.index(tz), languages.index(lang), contacts)
        for ws in meta["window_sets"][1:]:  # set 0 ("always") exists already
            index._wsets.get(tuple(Window(tuple(days), start, end) for days, start, end in ws))
        a = arrays
        n = len(a["prof"])
        index._ids = _Strings.from_blob(bytearray(a["ids_blob"]), a["ids_starts"])
        index._emails = _Strings.from_blob(bytearray(a["emails_blob"]), a["emails_starts"])
        index._ids.restore_aside(n, a["ids_aside_slots"], a["ids_aside"])
        index._emails.restore_aside(n, a["emails_aside_slots"], a["emails_aside"])
        if len(index._ids) != n or len(index._emails) != n:
            raise ValueError("snapshot columns disagree in length")
        state = a["state"]
        if any(len(a[name]) != n for name in ("state", "pause", "phone", "email_h", "flags")):
            raise ValueError("snapshot columns disagree in length")
        second_slots, second_numbers = a["second_slots"], a["second_numbers"]
        if len(second_slots) != len(second_numbers) or (len(second_slots) and int(second_slots.max()) >= n):
            raise ValueError("snapshot second numbers disagree with the columns")
        index._prof = _Grow(a["prof"])
        index._pause = _Grow(a["pause"])
        index._phone = _Grow(a["phone"])
        index._seconds = _Sparse(second_slots, second_numbers)
        index._email_h = _Grow(a["email_h"])
        index._state = _Grow(state)
        index._flags = _Grow(a["flags"])
        index._live = int(np.count_nonzero(state))
        index._a_lat, index._a_lon = a["a_lat"], a["a_lon"]
        index._a_pid, index._a_set = a["a_pid"], a["a_set"]
        index._cell_keys, index._cell_start = a["cell_keys"], a["cell_start"]
        index._main_addresses = len(index._a_lat)
        index._idh_sorted, index._idh_slot = a["idh_sorted"], a["idh_slot"]
        index._reset_changes()
        index._hidden = int(meta.get("hidden", 0))
        index._stale_ids = int(meta.get("stale_ids", 0))
        index._marked = int(meta.get("shared_marks", 0))
        index._free = np.flatnonzero(state == 0).tolist()  # erased before the snapshot was taken
        index._new_ids = {index._ids.get(s): s for s in a["new_id_slots"].tolist()}
        o_pid = a["o_pid"]
        if len(o_pid):
            index._o_lat = _Grow(a["o_lat"].astype(np.float32))
            index._o_lon = _Grow(a["o_lon"].astype(np.float32))
            index._o_pid = _Grow(o_pid.astype(np.int32))
            index._o_set = _Grow(a["o_set"].astype(np.int32))
            index._o_live = _Grow(np.ones(len(o_pid), dtype=bool))
            first = np.flatnonzero(np.r_[True, o_pid[1:] != o_pid[:-1]])  # each slot's entries are together
            stop = np.r_[first[1:], len(o_pid)]
            index._o_where = dict(zip(o_pid[first].tolist(), zip(first.tolist(), stop.tolist())))
        return index
