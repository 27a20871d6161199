"""The selection path of :class:`~hub.audience.AudienceIndex`: candidates in an area, the skip rules
per channel, and one message per contact address.

Changes since the last compaction cost a query little: the overlay (addresses written since) is
bounded and tested after a bounding-box filter, hidden entries of the sorted arrays (participants
removed or moved since) are dropped with one gather from the slot states, and the shared-contact
flags stay exact as contact values change (see :meth:`~hub.audience.index.AudienceIndex._shared_flag`).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Mapping, Sequence

import numpy as np

from .. import geo
from ..channel import Contact
from ..models import Area, Circle, Polygon
from ..participants import zone
from .results import _EMPTY_MEMBERS, SKIP_REASONS, ChannelSelection, Member, Selection, _Members
from .tables import _CONTACT_FLAG, _LIVE, _SECOND, _SHARED_EMAIL, _SHARED_PHONE

_BOX_MARGIN_DEG = 1e-4
"""Widening of an area's bounding box for the overlay's pre-filter (about 10 m; the exact test decides)."""

# reason codes: a lower code takes precedence, so combining reasons is ``np.minimum``; ``_ABSENT``
# (none of the participant's current addresses is in the area) is counted nowhere
_ABSENT, _PAUSED, _NOT_CHOSEN, _NO_CONTACT, _UNAVAILABLE, _QUIET, _DUPLICATE, _OK = range(8)


class _Queries:
    """Selection, as part of :class:`~hub.audience.AudienceIndex` (which holds the arrays it reads)."""

    def _candidates(self, area: Area) -> tuple[np.ndarray, np.ndarray, int]:
        """(participant slot, window set) of the addresses inside the area, and how many of them come
        from the sorted arrays (first; some may be hidden, see :meth:`select`) rather than the overlay."""
        box = geo.bbox_of(area)
        r0, c0 = geo.cell_of(box.min_lat, box.min_lon, self.cell_deg)
        r1, c1 = geo.cell_of(box.max_lat, box.max_lon, self.cell_deg)
        rows = np.arange(r0, r1 + 1, dtype=np.int64)
        lo = np.searchsorted(self._cell_keys, rows * self._ncols + c0, side="left")
        hi = np.searchsorted(self._cell_keys, rows * self._ncols + c1, side="right")
        start = self._cell_start[lo]
        stop = self._cell_start[hi]
        counts = stop - start
        total = int(counts.sum())
        pids: list[np.ndarray] = []
        sets: list[np.ndarray] = []
        if total:
            row_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
            np.cumsum(counts, out=row_offsets[1:])
            spans = [(a, b) for a, b in zip(start.tolist(), stop.tolist()) if b > a]
            lat = np.concatenate([self._a_lat[a:b] for a, b in spans])
            lon = np.concatenate([self._a_lon[a:b] for a, b in spans])
            if isinstance(area, Circle):
                inside = geo.within_radius_np(lat, lon, area.lat, area.lon, area.radius_m)
            else:
                inside = self._in_polygon_banded(lat, lon, area, r0, row_offsets)
            hit = np.flatnonzero(inside)
            if len(hit):
                span_start = np.array([a for a, _ in spans], dtype=np.int64)
                span_offset = np.zeros(len(spans), dtype=np.int64)
                np.cumsum([b - a for a, b in spans[:-1]], out=span_offset[1:])
                k = np.searchsorted(span_offset, hit, side="right") - 1
                where = span_start[k] + (hit - span_offset[k])
                pids.append(self._a_pid[where])
                sets.append(self._a_set[where])
        main = len(pids[0]) if pids else 0
        n = self._o_pid.n
        if n:
            # the overlay: the same float32 coordinates and the same test as the sorted arrays, so a
            # compaction changes no result
            o_lat, o_lon = self._o_lat.a[:n], self._o_lon.a[:n]
            m = _BOX_MARGIN_DEG
            near = np.flatnonzero(
                (o_lat >= box.min_lat - m) & (o_lat <= box.max_lat + m)
                & (o_lon >= box.min_lon - m) & (o_lon <= box.max_lon + m)
            )
            near = near[self._o_live.a[near]]
            if len(near):
                inside = near[geo.contains_np(area, o_lat[near], o_lon[near])]
                pids.append(self._o_pid.a[inside])
                sets.append(self._o_set.a[inside])
        if not pids:
            empty = np.zeros(0, dtype=np.int32)
            return empty, empty, 0
        if len(pids) == 1:
            return pids[0], sets[0], main
        return np.concatenate(pids), np.concatenate(sets), main

    def _unhide(self, slots: np.ndarray, counts: np.ndarray, overlay_pid: np.ndarray) -> np.ndarray | None:
        """Correct the address counts of the participants found for the hidden entries of the sorted
        arrays (participants removed or moved since the last compaction of the addresses), in place;
        return the positions of those with no current address in the area (``None``: none).

        Rather than checking every address, the states of the participants found are read (one gather
        in ascending slot order): a participant that is not plain live has no current entry in the
        sorted arrays, so only their overlay addresses count (none for a removed one).
        """
        odd = np.flatnonzero(np.take(self._state.a, slots) != _LIVE)
        if not len(odd):
            return None
        in_overlay = np.sort(overlay_pid)
        odd_slots = slots[odd]
        counts[odd] = np.searchsorted(in_overlay, odd_slots, side="right") - np.searchsorted(in_overlay, odd_slots)
        return odd[counts[odd] == 0]

    def _in_polygon_banded(
        self, lat: np.ndarray, lon: np.ndarray, polygon: Polygon, r0: int, row_offsets: np.ndarray
    ) -> np.ndarray:
        """Ray casting where each edge only visits the grid rows its latitude span covers."""
        inside = np.zeros(len(lat), dtype=bool)
        ring = geo._ring(polygon.points)
        if len(ring) < 3:
            return inside
        last_row = len(row_offsets) - 2
        cell = self.cell_deg
        for i in range(len(ring)):
            yi, xi = float(ring[i, 0]), float(ring[i, 1])
            yj, xj = float(ring[i - 1, 0]), float(ring[i - 1, 1])
            if yi == yj:
                continue
            ra = max(0, int(math.floor((min(yi, yj) + 90.0) / cell)) - r0)
            rb = min(last_row, int(math.floor((max(yi, yj) + 90.0) / cell)) - r0)
            if rb < ra:
                continue
            a, b = int(row_offsets[ra]), int(row_offsets[rb + 1])
            if a == b:
                continue
            y = lat[a:b].astype(np.float64)
            x = lon[a:b].astype(np.float64)
            crosses = (yi > y) != (yj > y)
            x_at = xi + (y - yi) * ((xj - xi) / (yj - yi))
            inside[a:b] ^= crosses & (x < x_at)
        return inside

    def _local_times(self, at: datetime) -> tuple[np.ndarray, np.ndarray]:
        weekdays = np.zeros(len(self._zones), dtype=np.int64)
        minutes = np.zeros(len(self._zones), dtype=np.int64)
        for code, name in enumerate(self._zones):
            local = at.astimezone(zone(name))
            weekdays[code] = local.weekday()
            minutes[code] = local.hour * 60 + local.minute
        return weekdays, minutes

    def select(
        self,
        area: Area,
        channels: Mapping[str, Contact | str],
        at: datetime,
        *,
        bypass_quiet_hours: bool = False,
        count_only: bool = False,
    ) -> Selection:
        """The participants an area reaches at ``at`` (aware), per channel; see the module docs.

        ``channels`` maps each participant channel's name to the contact detail it delivers to.
        """
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("'at' must be a timezone-aware datetime")
        contacts = {name: Contact(c) for name, c in channels.items()}
        radius = area.radius_m if isinstance(area, Circle) else None
        transport = area.transport if isinstance(area, Circle) else None

        pid, wset, n_main = self._candidates(area)
        in_area = 0
        absent = None
        if len(pid):
            # participants in the area (ascending slots) with their number of addresses in it
            srt = np.sort(pid)
            first = np.empty(len(srt), dtype=bool)
            first[0] = True
            np.not_equal(srt[1:], srt[:-1], out=first[1:])
            starts = np.flatnonzero(first)
            slots = srt[starts].astype(np.intp)  # gathers with native-width indices skip a conversion
            inside = np.diff(np.r_[starts, len(srt)])
            del srt, first, starts
            if self._hidden:
                absent = self._unhide(slots, inside, pid[n_main:])
            in_area = len(slots) - (len(absent) if absent is not None else 0)
        if not in_area:
            empty = {
                name: ChannelSelection(name, c, 0, {r: 0 for r in SKIP_REASONS}) for name, c in contacts.items()
            }
            return Selection(0, empty, radius, transport, count_only)

        prof_all = self._prof.a
        profiles = self._profiles
        p_tz = profiles.array("tz")
        weekdays, minutes = self._local_times(at)
        prof = np.take(prof_all, slots)
        base = np.full(len(slots), _OK, dtype=np.int8)
        base[np.take(self._pause.a, slots) > at.timestamp() / 60.0] = _PAUSED
        if absent is not None:
            base[absent] = _ABSENT

        # unavailable: every in-area address has windows and none is open now (only windowed ones are checked)
        windowed = np.flatnonzero(wset != 0)
        if len(windowed):
            table = self._wsets.available(weekdays, minutes)
            w_pid = pid[windowed]
            if (table == table[0]).all():  # every time zone has the same local time (the usual case)
                closed = ~table[0][wset[windowed]]
            else:
                closed = ~table.ravel()[p_tz[prof_all[w_pid]].astype(np.int64) * table.shape[1] + wset[windowed]]
            shut = windowed[closed]  # positions in ``pid``
            if self._hidden and len(shut):
                hidden = shut < n_main  # from the sorted arrays: hidden if their participant's are
                hidden[hidden] = np.take(self._state.a, pid[shut[hidden]]) != _LIVE
                shut = shut[~hidden]
            if len(shut):
                bad = np.sort(pid[shut])
                b_first = np.flatnonzero(np.r_[True, bad[1:] != bad[:-1]])
                b_counts = np.diff(np.r_[b_first, len(bad)])
                at_pos = np.searchsorted(slots, bad[b_first])
                gone = at_pos[b_counts == inside[at_pos]]
                base[gone] = np.minimum(base[gone], _UNAVAILABLE)

        # Reasons combine per (profile, state) pair: a channel's reason for a participant is the lower
        # of its profile's reason and the state reason (paused, unavailable). Counting the pairs once
        # leaves each channel a few operations on small tables plus one gather.
        n_prof = len(profiles.channels)
        pair = prof.astype(np.intp)
        pair *= 8
        pair += base
        pair_counts = np.bincount(pair, minlength=n_prof * 8)
        states = np.arange(8, dtype=np.int8)
        has = profiles.array("contacts")
        if not bypass_quiet_hours:
            qs, qe = profiles.array("quiet_start"), profiles.array("quiet_end")
            m = minutes[p_tz]
            quiet_now = (qs >= 0) & np.where(qs < qe, (qs <= m) & (m < qe), (m >= qs) | (m < qe))

        result: dict[str, ChannelSelection] = {}
        for name, contact in contacts.items():
            code = np.full(n_prof, _OK, dtype=np.int8)
            if not bypass_quiet_hours:
                code[quiet_now & profiles.quieted(name)] = _QUIET
            code[(has & _CONTACT_FLAG[contact]) == 0] = _NO_CONTACT
            code[~profiles.chosen(name)] = _NOT_CHOSEN
            reason_of_pair = np.minimum(code[:, None], states[None, :]).ravel()
            counts = np.bincount(reason_of_pair, weights=pair_counts, minlength=_OK + 1).astype(np.int64)
            eligible = np.flatnonzero(np.take(reason_of_pair == _OK, pair))  # positions in ``slots``, ascending
            keep, duplicates = self._dedupe(slots, eligible, contact)
            counts[_DUPLICATE] += duplicates
            skipped = {r: int(counts[i + 1]) for i, r in enumerate(SKIP_REASONS)}
            members: Sequence[Member] = _EMPTY_MEMBERS
            if not count_only:
                calls = contact is Contact.PHONE
                members = _Members(
                    slots[keep], prof_all, profiles.array("lang"), contact, self._ids, self._phone.a,
                    self._emails, self._languages,
                    self._flags.a if calls else None, self._seconds if calls else None,
                )
                if len(keep):
                    self._leases.add(members)  # the columns it reads stay as they are while it lives
            result[name] = ChannelSelection(name, contact, len(keep), skipped, members)
        return Selection(in_area, result, radius, transport, count_only)

    def _dedupe(self, slots: np.ndarray, eligible: np.ndarray, contact: Contact) -> tuple[np.ndarray, int]:
        """Of the ``eligible`` positions (in ``slots``), those that keep their contact address, and how
        many lost it (``duplicate_address``).

        Where several eligible participants share the channel's phone number (the number to text, or
        the number to call) or e-mail address, the one in the lowest slot keeps it. Only participants
        whose value may repeat (flagged as shared: see
        :meth:`~hub.audience.index.AudienceIndex._shared_flag`) are compared.
        """
        if not len(eligible):
            return eligible, 0
        email = contact is Contact.EMAIL
        chosen = np.take(slots, eligible)
        flags = self._flags.a
        suspect = (np.take(flags, chosen) & (_SHARED_EMAIL if email else _SHARED_PHONE)) != 0
        shared = np.flatnonzero(suspect)  # indices into ``eligible``
        if len(shared) < 2:
            return eligible, 0
        if email:
            values = self._email_h.a[chosen[shared]]
        else:
            # the number in the column: to text, and to call unless the slot has a second number
            values = self._phone.a[chosen[shared]]
            if contact is Contact.PHONE:
                second = np.flatnonzero(flags[chosen[shared]] & _SECOND)
                if len(second):
                    values[second] = self._seconds.get_many(chosen[shared[second]])
        order_in = np.argsort(values, kind="stable")
        order = shared[order_in]
        v = values[order_in]
        bounds = np.flatnonzero(np.r_[True, v[1:] != v[:-1], True])
        sizes = np.diff(bounds)
        if not (sizes > 1).any():
            return eligible, 0
        if email:
            # equal 31-bit hashes do not prove equal addresses: compare the text
            losers: list[int] = []
            for a, b in zip(bounds[:-1][sizes > 1].tolist(), bounds[1:][sizes > 1].tolist()):
                seen: set[str] = set()
                for i in order[a:b].tolist():  # ascending slots within one value
                    text = self._emails.get(int(chosen[i]))
                    if text in seen:
                        losers.append(i)
                    seen.add(text)
            lost_at = np.array(losers, dtype=np.int64)
        else:
            later = np.ones(len(order), dtype=bool)
            later[bounds[:-1]] = False  # the first (lowest slot) of each equal run keeps the number
            lost_at = order[later]
        if not len(lost_at):
            return eligible, 0
        lost = np.zeros(len(eligible), dtype=bool)
        lost[lost_at] = True
        return eligible[~lost], int(len(lost_at))
