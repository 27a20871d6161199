"""What many participants share, stored once: preference profiles and availability window sets.

Also the bits the index keeps per profile (which contact details exist) and per slot (its state, and
whether its contact values may be shared with someone else).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..channel import Contact
from ..participants import Window

# which contact details a profile has: a number to text (``Contact.MOBILE``), a number to call
# (``Contact.PHONE``), an e-mail address. With the per-slot flag :data:`_SECOND` they say what the
# slot's one number column holds: the number to text when the profile has one, else the number to
# call; the number to call is that same number unless the slot has a second number (to call).
_HAS_MOBILE, _HAS_PHONE, _HAS_EMAIL = 1, 2, 4
_CONTACT_FLAG = {Contact.MOBILE: _HAS_MOBILE, Contact.PHONE: _HAS_PHONE, Contact.EMAIL: _HAS_EMAIL}
_INT32_MAX = 2**31 - 1

# per-slot flags: one of the slot's phone numbers (the number in the column, or its second number)
# or its e-mail hash may be shared with another participant (every slot holding a number that another
# slot holds, in the column or as its second number, has the flag; a flag may outlive the sharing until
# the next count); the slot has a second number, to call, in the sparse numbers (its number to call
# differs from its number to text)
_SHARED_PHONE, _SHARED_EMAIL, _SECOND = 1, 2, 4

# per-slot state: a participant lives in the slot; its addresses in the sorted arrays are not current
# (the current ones are in the overlay). An empty slot is 0.
_LIVE, _MOVED = 1, 2


@dataclass
class _Profiles:
    """Distinct combinations of per-participant preferences, each stored once."""

    index: dict[tuple, int] = field(default_factory=dict)
    channels: list[frozenset[str]] = field(default_factory=list)
    quiet_channels: list[frozenset[str]] = field(default_factory=list)
    quiet_start: list[int] = field(default_factory=list)
    quiet_end: list[int] = field(default_factory=list)
    tz: list[int] = field(default_factory=list)
    lang: list[int] = field(default_factory=list)
    contacts: list[int] = field(default_factory=list)
    _arrays: dict[str, np.ndarray] = field(default_factory=dict)
    _chosen: dict[str, np.ndarray] = field(default_factory=dict)
    _quiet: dict[str, np.ndarray] = field(default_factory=dict)

    def get(self, key: tuple, channels, quiet, tz: int, lang: int, contacts: int) -> int:
        found = self.index.get(key)
        if found is not None:
            return found
        n = len(self.channels)
        self.index[key] = n
        self.channels.append(frozenset(channels))
        self.quiet_channels.append(frozenset(quiet.channels) if quiet else frozenset())
        self.quiet_start.append(quiet.start if quiet else -1)
        self.quiet_end.append(quiet.end if quiet else -1)
        self.tz.append(tz)
        self.lang.append(lang)
        self.contacts.append(contacts)
        self._arrays.clear()
        self._chosen.clear()
        self._quiet.clear()
        return n

    def array(self, name: str) -> np.ndarray:
        arr = self._arrays.get(name)
        if arr is None:
            dtype = {"tz": np.int16, "lang": np.uint8, "contacts": np.uint8}.get(name, np.int16)
            arr = self._arrays[name] = np.array(getattr(self, name), dtype=dtype)
        return arr

    def chosen(self, channel: str) -> np.ndarray:
        arr = self._chosen.get(channel)
        if arr is None:
            arr = self._chosen[channel] = np.array([channel in c for c in self.channels], dtype=bool)
        return arr

    def quieted(self, channel: str) -> np.ndarray:
        arr = self._quiet.get(channel)
        if arr is None:
            arr = self._quiet[channel] = np.array([channel in c for c in self.quiet_channels], dtype=bool)
        return arr


@dataclass
class _WindowSets:
    """Distinct tuples of availability windows; set 0 is "always available"."""

    index: dict[tuple[Window, ...], int] = field(default_factory=lambda: {(): 0})
    owner: list[int] = field(default_factory=list)
    days: list[int] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    _arrays: tuple[np.ndarray, ...] | None = None

    def get(self, windows: tuple[Window, ...]) -> int:
        found = self.index.get(windows)
        if found is not None:
            return found
        n = len(self.index)
        self.index[windows] = n
        for w in windows:
            self.owner.append(n)
            self.days.append(w.day_mask)
            self.start.append(w.start)
            self.end.append(w.end)
        self._arrays = None
        return n

    def available(self, weekdays: np.ndarray, minutes: np.ndarray) -> np.ndarray:
        """Table ``[zone, set] -> available`` for the local weekday and minute of each zone."""
        n_sets = len(self.index)
        if self._arrays is None:
            self._arrays = (
                np.array(self.owner, dtype=np.int64),
                np.array(self.days, dtype=np.int64),
                np.array(self.start, dtype=np.int64),
                np.array(self.end, dtype=np.int64),
            )
        owner, days, start, end = self._arrays
        table = np.zeros((len(weekdays), n_sets), dtype=bool)
        table[:, 0] = True
        for z, (d, m) in enumerate(zip(weekdays.tolist(), minutes.tolist())):
            today = (days >> d) & 1 == 1
            yesterday = (days >> ((d - 1) % 7)) & 1 == 1
            same_day = (start < end) & today & (start <= m) & (m < end)
            overnight = (start > end) & ((today & (m >= start)) | (yesterday & (m < end)))
            ok = same_day | overnight
            if ok.any():
                table[z, np.unique(owner[ok])] = True
        return table
