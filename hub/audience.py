"""Audience selection: which participants an action's area reaches, on which channel, at which address.

:class:`AudienceIndex` keeps every participant's addresses in memory as numpy arrays sorted by grid
cell, so that selecting the participants in a circle or polygon touches only the cells under the area.
It is built for national scale (millions of participants, 100,000 hits in a few milliseconds) and
kept compact (a few dozen bytes per participant and per address):

* **Addresses**: ``float32`` lat/lon (under half a metre of rounding), the ``int32`` participant slot
  and an ``int32`` *window set*, sorted by cell (0.02° by default); a cell's range is found with
  ``np.searchsorted`` over the sorted keys of the occupied cells.
* **Participants**: one row per slot with a *profile* number, the pause end (minutes), the phone
  number as an ``int64`` of its E.164 digits and a hash of the e-mail address. Ids and e-mail
  addresses live in one byte string each with offsets. Slots are numbered by the grid cell of each
  participant's first address, so the participants of one area lie close together in memory.
* **Profiles**: what many participants share is stored once: chosen channels, quiet hours, time zone,
  language and which contact details exist. Filtering a hundred thousand candidates then costs a few
  gathers from small per-profile tables computed once per query.
* **Window sets**: the distinct availability windows of addresses ("mon-fri 08:00-18:00"), evaluated
  once per query and time zone.

Changes after the build go to an *overlay* (new slots, searched by brute force) and *tombstones*
(replaced or removed slots); :meth:`AudienceIndex.compact` merges them, and does so on its own once the
overlay grows past a threshold. Slots are never rewritten in place, so a :class:`Selection` stays valid
while the index changes. The index is not thread-safe: use it from one thread (the event loop).

Selection rules (:meth:`AudienceIndex.select`):

* a participant is *in the area* when any of their addresses lies in it; they may be reached when at
  least one of those addresses is available at that moment, else they are skipped as
  ``address_unavailable``;
* every channel reaches a participant at most once, however many of their addresses lie in the area;
* no contact address (phone number, e-mail) gets the same message twice on one channel, even when
  several participants registered it: one of them gets it (deterministically, the lowest slot), the
  others are skipped as ``duplicate_address``;
* per channel ``in_area == len(recipients) + sum(skipped.values())``.

Skip reasons, in order of precedence: ``paused``, ``channel_not_chosen``, ``no_contact``,
``address_unavailable``, ``quiet_hours`` (unless bypassed), ``duplicate_address``.
"""

from __future__ import annotations

import json
import math
import zlib
from array import array
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from . import geo
from .channel import Contact
from .models import Area, Circle, Polygon, Recipient, TransportMode
from .participants import (
    DAYS,
    DEFAULT_LANGUAGE,
    DEFAULT_TIMEZONE,
    INTERRUPTIVE_CHANNELS,
    Participant,
    QuietHours,
    SkipReason,
    Window,
    _minutes,
    parse_pause,
    pause_end,
    zone,
)

SKIP_REASONS: tuple[str, ...] = tuple(
    r.value
    for r in (
        SkipReason.PAUSED,
        SkipReason.CHANNEL_NOT_CHOSEN,
        SkipReason.NO_CONTACT,
        SkipReason.ADDRESS_UNAVAILABLE,
        SkipReason.QUIET_HOURS,
        SkipReason.DUPLICATE_ADDRESS,
    )
)
"""Every skip reason, in order of precedence."""

# reason codes: a lower code takes precedence, so combining reasons is ``np.minimum``
_PAUSED, _NOT_CHOSEN, _NO_CONTACT, _UNAVAILABLE, _QUIET, _DUPLICATE, _OK = range(1, 8)

_HAS_MOBILE, _HAS_PHONE, _HAS_EMAIL = 1, 2, 4
_CONTACT_FLAG = {Contact.MOBILE: _HAS_MOBILE, Contact.PHONE: _HAS_PHONE, Contact.EMAIL: _HAS_EMAIL}
_INT32_MAX = 2**31 - 1
_SHARED_PHONE, _SHARED_EMAIL = 1, 2


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


# -- results -------------------------------------------------------------------------------------


class Member(NamedTuple):
    """One recipient of one channel: the participant and the contact address to deliver to."""

    participant_id: str
    address: str
    language: str

    def recipient(self) -> Recipient:
        return Recipient(address=self.address, participant_id=self.participant_id, language=self.language)


class _Members(Sequence[Member]):
    """A channel's recipients, materialised on access (cheap to hold for large selections)."""

    __slots__ = ("_slots", "_prof", "_lang_of", "_contact", "_ids", "_phones", "_emails", "_languages")

    def __init__(self, slots, prof, lang_of, contact, ids, phones, emails, languages):
        self._slots = slots
        self._prof = prof  # every slot's profile
        self._lang_of = lang_of  # profile -> language code
        self._contact = contact
        self._ids = ids
        self._phones = phones
        self._emails = emails
        self._languages = languages

    def __len__(self) -> int:
        return len(self._slots)

    def _address(self, slot: int) -> str:
        if self._contact is Contact.EMAIL:
            return self._emails.get(slot)
        return f"+{int(self._phones[slot])}"

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        slot = int(self._slots[i])
        lang = self._languages[int(self._lang_of[self._prof[slot]])]
        return Member(self._ids.get(slot), self._address(slot), lang)

    def columns(self) -> tuple[list[str], list[str], list[str]]:
        """(participant ids, addresses, languages), each in recipient order: no object per recipient."""
        slots = self._slots
        languages = self._languages
        langs = [languages[c] for c in self._lang_of[self._prof[slots]].tolist()]
        if self._contact is Contact.EMAIL:
            addresses = self._emails.get_many(slots)
        else:
            addresses = list(map("+".__add__, map(str, self._phones[slots].tolist())))
        return self._ids.get_many(slots), addresses, langs

    def __iter__(self) -> Iterator[Member]:
        return map(Member, *self.columns())

    def __repr__(self) -> str:
        return f"<{len(self)} recipients>"


_EMPTY_MEMBERS: Sequence[Member] = ()


@dataclass(frozen=True, slots=True)
class ChannelSelection:
    """Who one channel reaches, and why the other participants in the area are skipped."""

    channel: str
    contact: Contact
    count: int
    skipped: Mapping[str, int]
    recipients: Sequence[Member] = _EMPTY_MEMBERS


@dataclass(frozen=True, slots=True)
class Selection:
    """The audience of an action's area at one moment, per channel.

    ``radius_m`` and ``transport`` repeat a circle's radius and the mode of transport it followed from.
    With ``count_only`` the recipient lists are empty and only the counts are filled in.
    """

    in_area: int
    channels: Mapping[str, ChannelSelection]
    radius_m: float | None = None
    transport: TransportMode | None = None
    count_only: bool = False

    def recipients(self, channel: str) -> Sequence[Member]:
        return self.channels[channel].recipients

    def skipped(self, channel: str) -> Mapping[str, int]:
        return self.channels[channel].skipped

    def summary(self) -> dict[str, Any]:
        """Counts only (no personal data), for dry-runs, logs and the API."""
        return {
            "in_area": self.in_area,
            "radius_m": self.radius_m,
            "transport": self.transport.value if self.transport else None,
            "channels": {
                name: {"recipients": c.count, "skipped": dict(c.skipped)} for name, c in self.channels.items()
            },
        }


# -- compact storage helpers ---------------------------------------------------------------------


class _Grow:
    """A numpy array with spare capacity for cheap appends. Existing items are never moved in place."""

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
    """Many short strings in one UTF-8 byte string, separated by ``\\n``, plus an overlay list."""

    __slots__ = ("blob", "starts", "extra")

    def __init__(self, items: Sequence[str] = ()):
        self._set_blob(("\n".join(items) + "\n").encode() if items else b"")
        self.extra: list[str] = []

    def _set_blob(self, blob: bytes, starts: np.ndarray | None = None) -> None:
        self.blob = blob
        if starts is None:
            ends = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == 10)
            starts = np.empty(len(ends) + 1, dtype=np.int64)
            starts[0] = 0
            starts[1:] = ends + 1
        self.starts = starts.astype(np.uint32) if len(blob) < 2**32 else starts.astype(np.int64)

    @classmethod
    def from_blob(cls, blob: bytes, starts: np.ndarray | None = None) -> _Strings:
        """A column over ``blob`` (entries each ended by ``\\n``); ``starts`` when already known."""
        out = cls()
        out._set_blob(blob, starts)
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
        return _Strings.from_blob(out.tobytes(), new_starts)

    @property
    def main_len(self) -> int:
        return len(self.starts) - 1

    def __len__(self) -> int:
        return self.main_len + len(self.extra)

    def get(self, i: int) -> str:
        m = len(self.starts) - 1
        if i < m:
            return self.blob[int(self.starts[i]) : int(self.starts[i + 1]) - 1].decode()
        return self.extra[i - m]

    def get_many(self, slots: np.ndarray) -> list[str]:
        """The entries at ``slots``, in that order (one decode for the lot)."""
        m = len(self.starts) - 1
        slots = np.asarray(slots)
        if len(slots) and int(slots.max()) >= m:
            return [self.get(int(i)) for i in slots.tolist()]
        blob = self.blob
        pieces = [blob[a:b] for a, b in zip(self.starts[slots].tolist(), self.starts[slots + 1].tolist())]
        return b"".join(pieces).decode().split("\n")[:-1] if pieces else []

    def append(self, s: str) -> None:
        self.extra.append(s)

    def take(self, keep: np.ndarray) -> _Strings:
        """A new column of the kept entries (ascending indices), overlay merged in."""
        m = self.main_len
        keep = np.asarray(keep, dtype=np.int64)
        main = keep[keep < m]
        pieces: list[bytes] = []
        if len(main):
            breaks = np.flatnonzero(np.diff(main) != 1) + 1
            run_first = main[np.r_[0, breaks]]
            run_last = main[np.r_[breaks - 1, len(main) - 1]]
            starts = self.starts.astype(np.int64)
            blob = self.blob
            pieces = [blob[starts[a] : starts[b + 1]] for a, b in zip(run_first.tolist(), run_last.tolist())]
            lengths = starts[main + 1] - starts[main]
        else:
            lengths = np.zeros(0, dtype=np.int64)
        extra = [self.extra[i - m] for i in keep[keep >= m].tolist()]
        if extra:
            encoded = [s.encode() + b"\n" for s in extra]
            pieces.extend(encoded)
            lengths = np.concatenate([lengths, np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))])
        out = _Strings()
        out.blob = b"".join(pieces)
        starts = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        out.starts = starts.astype(np.uint32) if len(out.blob) < 2**32 else starts
        return out

    def nbytes(self) -> int:
        return len(self.blob) + self.starts.nbytes + sum(len(s) + 57 for s in self.extra)


@dataclass(frozen=True)
class Compaction:
    """A compacted index computed by :meth:`AudienceIndex.compaction`, ready to install."""

    changes: int
    fields: Mapping[str, Any]


def _h32(text: str) -> int:
    """A 31-bit hash for lookups (collisions are resolved by comparing the strings).

    Stable across processes (CRC-32, unlike the salted built-in ``hash``), so that hashes can be
    saved in a snapshot and used by the next process.
    """
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


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


# -- loading -------------------------------------------------------------------------------------


@dataclass
class _Columns:
    """Everything :class:`IndexLoader` gathered, in load order, ready to be sorted into an index."""

    ids: _Strings
    emails: _Strings
    idh: np.ndarray
    prof: np.ndarray
    pause: np.ndarray
    phone: np.ndarray
    email_h: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    pid: np.ndarray
    wset: np.ndarray


_LOADER_COLUMNS = {
    "prof": np.int32,
    "pause": np.int32,
    "phone": np.int64,
    "email_h": np.int32,
    "lat": np.float64,
    "lon": np.float64,
    "pid": np.int32,
    "wset": np.int32,
}


class IndexLoader:
    """Fills an index chunk by chunk, from :class:`Participant` objects or straight from stored records.

    Stored records (the JSON form :meth:`Participant.to_dict` gives, e.g. from
    ``store.scan_participants``) skip building participant objects: at national scale that halves the
    work and keeps only flat columns in memory while loading. Records are trusted to be normalised.

        loader = IndexLoader(AudienceIndex())
        for chunk in chunks:
            loader.add_records(chunk)
        index = loader.finish()
    """

    def __init__(self, index: AudienceIndex):
        self.index = index
        self.count = 0
        self._ids: list[bytes] = []
        self._emails: list[bytes] = []
        self._idh: list[np.ndarray] = []
        self._prof = array("i")
        self._pause = array("i")
        self._phone = array("q")
        self._email_h = array("i")
        self._lat = array("d")
        self._lon = array("d")
        self._pid = array("i")
        self._wset = array("i")
        self._quiet: dict[tuple, QuietHours] = {}
        self._windows: dict[tuple, int] = {}
        self._pauses: dict[tuple[str, str], int] = {}

    def _chunk_strings(self, ids: list[str], emails: list[str]) -> None:
        if ids:
            self._ids.append(("\n".join(ids) + "\n").encode())
            self._emails.append(("\n".join(emails) + "\n").encode())
            self._idh.append(np.fromiter(map(_h32, ids), dtype=np.int32, count=len(ids)))

    def add_participants(self, participants: Iterable[Participant]) -> None:
        index = self.index
        row = index._row
        window_set = index._wsets.get
        prof, pause, phone, email_h = self._prof, self._pause, self._phone, self._email_h
        a_lat, a_lon, a_pid, a_set = self._lat, self._lon, self._pid, self._wset
        ids: list[str] = []
        emails: list[str] = []
        slot = self.count
        for p in participants:
            pr, pa, ph, eh, email = row(p)
            ids.append(p.id)
            emails.append(email)
            prof.append(pr)
            pause.append(pa)
            phone.append(ph)
            email_h.append(eh)
            for a in p.addresses:
                a_lat.append(a.lat)
                a_lon.append(a.lon)
                a_pid.append(slot)
                a_set.append(window_set(a.availability) if a.availability else 0)
            slot += 1
        self.count = slot
        self._chunk_strings(ids, emails)

    def add_records(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add participants in their stored JSON form (see :meth:`Participant.to_dict`).

        Written for speed: the same fields :meth:`AudienceIndex._row` reads, without the objects.
        """
        index = self.index
        profiles = index._profiles
        prof_index = profiles.index
        quiet_cache, window_cache, pause_cache = self._quiet, self._windows, self._pauses
        prof, pause, phone, email_h = self._prof, self._pause, self._phone, self._email_h
        a_lat, a_lon, a_pid, a_set = self._lat, self._lon, self._pid, self._wset
        ids: list[str] = []
        emails: list[str] = []
        slot = self.count
        for d in records:
            number = 0
            flags = 0
            phones = d.get("phones")
            if phones:
                flags = _HAS_PHONE
                for ph in phones:
                    if ph.get("kind") == "mobile":
                        number = int(ph["number"][1:])
                        flags = _HAS_PHONE | _HAS_MOBILE
                        break
                else:
                    number = int(phones[0]["number"][1:])
            email = d.get("email") or ""
            if email:
                flags |= _HAS_EMAIL
                eh = _h32(email)
            else:
                eh = 0
            channels = tuple(d.get("channels") or ())
            quiet = None
            q = d.get("quiet_hours")
            if q:
                qc = q.get("channels")
                qkey = (q["from"], q["to"], None if qc is None else tuple(qc))
                quiet = quiet_cache.get(qkey)
                if quiet is None:
                    quiet = quiet_cache[qkey] = QuietHours(
                        _minutes(q["from"]), _minutes(q["to"]), INTERRUPTIVE_CHANNELS if qc is None else tuple(qc)
                    )
            tz = d.get("timezone") or DEFAULT_TIMEZONE
            lang = d.get("language") or DEFAULT_LANGUAGE
            key = (channels, quiet, tz, lang, flags)
            pr = prof_index.get(key)
            if pr is None:
                pr = profiles.get(key, channels, quiet, index._zone_code(tz), index._language_code(lang), flags)
            pa = 0
            paused = d.get("paused_until")
            if paused:
                pa = pause_cache.get((paused, tz))
                if pa is None:
                    end = pause_end(parse_pause(paused), zone(tz))
                    pa = pause_cache[(paused, tz)] = min(_INT32_MAX, math.ceil(end.timestamp() / 60.0))
            ids.append(d["id"])
            emails.append(email)
            prof.append(pr)
            pause.append(pa)
            phone.append(number)
            email_h.append(eh)
            for a in d["addresses"]:
                a_lat.append(a["lat"])
                a_lon.append(a["lon"])
                a_pid.append(slot)
                windows = a.get("availability")
                if windows:
                    wkey = tuple((tuple(w.get("days") or DAYS), w["from"], w["to"]) for w in windows)
                    ws = window_cache.get(wkey)
                    if ws is None:
                        ws = window_cache[wkey] = index._wsets.get(
                            tuple(
                                Window(tuple(sorted(DAYS.index(x) for x in days)), _minutes(f), _minutes(t))
                                for days, f, t in wkey
                            )
                        )
                    a_set.append(ws)
                else:
                    a_set.append(0)
            slot += 1
        self.count = slot
        self._chunk_strings(ids, emails)

    def add_json(self, texts: Iterable[str]) -> None:
        """Add participants from their stored JSON texts."""
        self.add_records(map(json.loads, texts))

    def export(self) -> dict[str, Any]:
        """What was added, as plain picklable data, for :meth:`merge` into a loader in another process.

        Profiles and window sets travel as their keys (codes are local to each loader).
        """
        p = self.index._profiles
        return {
            "count": self.count,
            "ids": b"".join(self._ids),
            "emails": b"".join(self._emails),
            "idh": np.concatenate(self._idh) if self._idh else np.zeros(0, dtype=np.int32),
            "profiles": [key for key, _ in sorted(p.index.items(), key=lambda kv: kv[1])],
            "window_sets": [ws for ws, _ in sorted(self.index._wsets.index.items(), key=lambda kv: kv[1])],
            **{
                name: np.frombuffer(getattr(self, "_" + name), dtype=dtype)
                for name, dtype in _LOADER_COLUMNS.items()
            },
        }

    def merge(self, part: Mapping[str, Any]) -> None:
        """Append what another loader exported (its participants come after the ones added so far)."""
        index = self.index
        profiles = index._profiles
        prof_map = np.array(
            [
                profiles.get(key, key[0], key[1], index._zone_code(key[2]), index._language_code(key[3]), key[4])
                for key in part["profiles"]
            ]
            or [0],
            dtype=np.int32,
        )
        wset_map = np.array([index._wsets.get(ws) for ws in part["window_sets"]], dtype=np.int32)
        if len(part["prof"]):
            self._prof.frombytes(prof_map[part["prof"]].tobytes())
            self._wset.frombytes(wset_map[part["wset"]].tobytes())
            self._pid.frombytes((part["pid"] + np.int32(self.count)).astype(np.int32).tobytes())
            for name in ("pause", "phone", "email_h", "lat", "lon"):
                getattr(self, "_" + name).frombytes(np.ascontiguousarray(part[name]).tobytes())
            self._ids.append(part["ids"])
            self._emails.append(part["emails"])
            self._idh.append(part["idh"])
        self.count += int(part["count"])

    def finish(self) -> AudienceIndex:
        """Sort what was added into the index (replacing its main arrays) and return the index."""
        ids = _Strings.from_blob(b"".join(self._ids)) if self._ids else _Strings()
        emails = _Strings.from_blob(b"".join(self._emails)) if self._emails else _Strings()
        self._ids.clear()
        self._emails.clear()
        columns = _Columns(
            ids=ids,
            emails=emails,
            idh=np.concatenate(self._idh) if self._idh else np.zeros(0, dtype=np.int32),
            prof=np.frombuffer(self._prof, dtype=np.int32),
            pause=np.frombuffer(self._pause, dtype=np.int32),
            phone=np.frombuffer(self._phone, dtype=np.int64),
            email_h=np.frombuffer(self._email_h, dtype=np.int32),
            lat=np.frombuffer(self._lat, dtype=np.float64),
            lon=np.frombuffer(self._lon, dtype=np.float64),
            pid=np.frombuffer(self._pid, dtype=np.int32),
            wset=np.frombuffer(self._wset, dtype=np.int32),
        )
        self.index._install(columns)
        return self.index


# -- the index -----------------------------------------------------------------------------------


class AudienceIndex:
    """All participants' addresses, indexed for fast area selection. See the module docs.

    Build with :meth:`build`; keep current with :meth:`upsert` and :meth:`remove`; query with
    :meth:`select`.
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

    def _row(self, p: Participant) -> tuple[int, int, int, int, str]:
        """(profile, pause minutes, phone digits, email hash, email) for one participant.

        Called once per participant when building: written for speed rather than reuse.
        """
        phones = p.phones
        number = 0
        flags = 0
        if phones:
            flags = _HAS_PHONE
            for ph in phones:
                if ph.kind == "mobile":
                    number = int(ph.number[1:])
                    flags = _HAS_PHONE | _HAS_MOBILE
                    break
            else:
                number = int(phones[0].number[1:])
        email = p.email
        if email:
            flags |= _HAS_EMAIL
            email_hash = _h32(email)
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
        return prof, pause, number, email_hash, email

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
        self._email_h = _Grow(c.email_h[perm])
        self._alive = _Grow(np.ones(n, dtype=bool))
        if len(dead):
            self._alive.a[inverse[dead]] = False
        self._set_addresses(c.lat, c.lon, inverse[c.pid] if n else c.pid, c.wset)
        self._reset_overlay(c.idh[perm])

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

    def _set_addresses(self, lat: np.ndarray, lon: np.ndarray, pid: np.ndarray, wset: np.ndarray) -> None:
        for name, value in self._address_arrays(lat, lon, pid, wset).items():
            setattr(self, name, value)

    def _address_arrays(self, lat: np.ndarray, lon: np.ndarray, pid: np.ndarray, wset: np.ndarray) -> dict[str, Any]:
        """Addresses sorted by grid cell, and the cell lookup. Cells come from the float32 values."""
        lat32 = lat.astype(np.float32)
        lon32 = lon.astype(np.float32)
        rows, cols = geo.cells_np(lat32, lon32, self.cell_deg)
        keys = rows * self._ncols + cols
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        if len(keys):
            first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
            cell_keys, cell_start = keys[first], np.r_[first, len(keys)].astype(np.int64)
        else:
            cell_keys, cell_start = np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
        return {
            "_a_lat": lat32[order],
            "_a_lon": lon32[order],
            "_a_pid": pid[order].astype(np.int32),
            "_a_set": wset[order].astype(np.int32),
            "_cell_keys": cell_keys,
            "_cell_start": cell_start,
            "_main_addresses": len(keys),
        }

    @staticmethod
    def _lookup_arrays(idh: np.ndarray, phone: np.ndarray, email_h: np.ndarray) -> dict[str, Any]:
        """The id lookup (hashes sorted, with their slots) and the shared-contact flags of the main slots."""
        order = np.argsort(idh, kind="stable")
        shared = np.where(_repeated(phone), _SHARED_PHONE, 0).astype(np.uint8)
        shared |= np.where(_repeated(email_h), _SHARED_EMAIL, 0).astype(np.uint8)
        return {
            "_n_main": len(idh),
            "_idh_sorted": idh[order].astype(np.int32),
            "_idh_slot": order.astype(np.int32),
            "_shared": _Grow(shared),
        }

    def _reset_overlay(self, idh: np.ndarray) -> None:
        """Start an empty overlay; ``idh`` holds the id hashes of the main slots."""
        for name, value in self._lookup_arrays(idh, self._phone.v, self._email_h.v).items():
            setattr(self, name, value)
        self._dead = int(self._n_main - self._alive.v.sum())
        self._empty_overlay()

    def _empty_overlay(self) -> None:
        self._overlay_ids: dict[str, int] = {}
        self._o_lat = array("d")
        self._o_lon = array("d")
        self._o_pid = array("i")
        self._o_set = array("i")
        self._o_cache: tuple[np.ndarray, ...] | None = None
        self._o_values: dict[str, np.ndarray] = {}

    def _overlay_values(self, kind: str) -> np.ndarray:
        """Sorted phone numbers or e-mail hashes of the participants added since the last compaction."""
        values = self._o_values.get(kind)
        if values is None:
            column = self._phone if kind == "phone" else self._email_h
            values = self._o_values[kind] = np.sort(column.v[self._n_main :])
        return values

    # -- changes ---------------------------------------------------------------------------------

    def _find(self, participant_id: str) -> int | None:
        slot = self._overlay_ids.get(participant_id)
        if slot is not None:
            return slot
        h = _h32(participant_id)
        key = np.int32(h)  # a Python int would make numpy cast the whole array on every call
        lo = int(np.searchsorted(self._idh_sorted, key, side="left"))
        hi = int(np.searchsorted(self._idh_sorted, key, side="right"))
        alive = self._alive.a
        for k in range(lo, hi):
            s = int(self._idh_slot[k])
            if alive[s] and self._ids.get(s) == participant_id:
                return s
        return None

    def __contains__(self, participant_id: object) -> bool:
        return isinstance(participant_id, str) and self._find(participant_id) is not None

    def __len__(self) -> int:
        return self._alive.n - self._dead

    def upsert(self, participant: Participant) -> None:
        """Add a participant, or replace the one with the same id."""
        old = self._find(participant.id)
        if old is not None:
            self._kill(old)
        pr, pa, ph, eh, email = self._row(participant)
        self._changes += 1
        slot = self._alive.n
        self._ids.append(participant.id)
        self._emails.append(email)
        self._prof.append(pr)
        self._pause.append(pa)
        self._phone.append(ph)
        self._email_h.append(eh)
        self._shared.append(0)  # overlay values are checked against every candidate at query time
        self._o_values.clear()
        self._alive.append(True)
        self._overlay_ids[participant.id] = slot
        for a in participant.addresses:
            self._o_lat.append(a.lat)
            self._o_lon.append(a.lon)
            self._o_pid.append(slot)
            self._o_set.append(self._wsets.get(a.availability) if a.availability else 0)
        self._o_cache = None
        self._maybe_compact()

    add = upsert

    def remove(self, participant_id: str) -> bool:
        """Remove a participant; ``False`` if unknown."""
        slot = self._find(participant_id)
        if slot is None:
            return False
        self._kill(slot)
        self._maybe_compact()
        return True

    def _kill(self, slot: int) -> None:
        self._changes += 1
        self._alive.a[slot] = False
        self._dead += 1
        if slot >= self._n_main:
            self._overlay_ids.pop(self._ids.get(slot), None)

    @property
    def overlay_size(self) -> int:
        """Addresses added since the last build or compaction."""
        return len(self._o_pid)

    def _maybe_compact(self) -> None:
        if not self.auto_compact:
            return
        if self.overlay_size > max(4096, self._main_addresses // 64) or self._dead > max(4096, self._n_main // 8):
            self.compact()

    def compact(self) -> None:
        """Merge the overlay into the sorted arrays and drop removed participants (renumbers slots)."""
        self.apply_compaction(self.compaction())

    @property
    def compacted(self) -> bool:
        """Whether there is nothing to compact (no overlay, no removed participants)."""
        return not self.overlay_size and not self._dead and self._alive.n == self._n_main

    def compaction(self) -> Compaction:
        """The compacted index, computed without changing this one: safe to run in another thread while
        the index answers queries, as long as nothing changes it meanwhile (see :meth:`apply_compaction`)."""
        changes = self._changes
        alive = self._alive.v.copy()
        keep = np.flatnonzero(alive)
        remap = np.full(len(alive), -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        o_lat = np.frombuffer(self._o_lat, dtype=np.float64).copy()
        o_lon = np.frombuffer(self._o_lon, dtype=np.float64).copy()
        o_pid = np.frombuffer(self._o_pid, dtype=np.int32).copy()
        o_set = np.frombuffer(self._o_set, dtype=np.int32).copy()
        lat = np.concatenate([self._a_lat.astype(np.float64), o_lat])
        lon = np.concatenate([self._a_lon.astype(np.float64), o_lon])
        pid = np.concatenate([self._a_pid, o_pid])
        wset = np.concatenate([self._a_set, o_set])
        live = alive[pid]
        idh = np.empty(len(alive), dtype=np.int32)
        idh[self._idh_slot] = self._idh_sorted
        idh[self._n_main :] = [_h32(s) for s in list(self._ids.extra)]
        phone, email_h = self._phone.v[keep], self._email_h.v[keep]
        fields: dict[str, Any] = {
            "_ids": self._ids.take(keep),
            "_emails": self._emails.take(keep),
            "_prof": _Grow(self._prof.v[keep]),
            "_pause": _Grow(self._pause.v[keep]),
            "_phone": _Grow(phone),
            "_email_h": _Grow(email_h),
            "_alive": _Grow(np.ones(len(keep), dtype=bool)),
            "_dead": 0,
        }
        fields.update(self._address_arrays(lat[live], lon[live], remap[pid[live]].astype(np.int32), wset[live]))
        fields.update(self._lookup_arrays(idh[keep], phone, email_h))
        return Compaction(changes, fields)

    def apply_compaction(self, compaction: Compaction) -> bool:
        """Install a :meth:`compaction`; ``False`` (nothing done) if the index changed since it was computed."""
        if compaction.changes != self._changes:
            return False
        for name, value in compaction.fields.items():
            setattr(self, name, value)
        self._empty_overlay()
        return True

    def _overlay_arrays(self) -> tuple[np.ndarray, ...]:
        if self._o_cache is None:
            self._o_cache = (
                np.frombuffer(self._o_lat, dtype=np.float64).copy(),
                np.frombuffer(self._o_lon, dtype=np.float64).copy(),
                np.frombuffer(self._o_pid, dtype=np.int32).copy(),
                np.frombuffer(self._o_set, dtype=np.int32).copy(),
            )
        return self._o_cache

    # -- queries ---------------------------------------------------------------------------------

    def _candidates(self, area: Area) -> tuple[np.ndarray, np.ndarray]:
        """(participant slot, window set) of every stored address inside the area, live or not."""
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
        if len(self._o_pid):
            o_lat, o_lon, o_pid, o_set = self._overlay_arrays()
            inside = geo.contains_np(area, o_lat, o_lon)
            pids.append(o_pid[inside])
            sets.append(o_set[inside])
        if not pids:
            empty = np.zeros(0, dtype=np.int32)
            return empty, empty
        return np.concatenate(pids), np.concatenate(sets)

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

        pid, wset = self._candidates(area)
        if self._dead:
            live = self._alive.a[pid]
            pid, wset = pid[live], wset[live]
        if not len(pid):
            empty = {
                name: ChannelSelection(name, c, 0, {r: 0 for r in SKIP_REASONS}) for name, c in contacts.items()
            }
            return Selection(0, empty, radius, transport, count_only)

        prof_all = self._prof.a
        profiles = self._profiles
        p_tz = profiles.array("tz")
        weekdays, minutes = self._local_times(at)

        # participants in the area (ascending slots) with their number of addresses in it
        srt = np.sort(pid)
        first = np.empty(len(srt), dtype=bool)
        first[0] = True
        np.not_equal(srt[1:], srt[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        slots = srt[starts].astype(np.intp)  # gathers with native-width indices skip a conversion
        prof = np.take(prof_all, slots)
        base = np.full(len(slots), _OK, dtype=np.int8)
        base[np.take(self._pause.a, slots) > at.timestamp() / 60.0] = _PAUSED

        # unavailable: every in-area address has windows and none is open now (only windowed ones are checked)
        windowed = np.flatnonzero(wset != 0)
        if len(windowed):
            table = self._wsets.available(weekdays, minutes)
            w_pid = pid[windowed]
            if (table == table[0]).all():  # every time zone has the same local time (the usual case)
                closed = ~table[0][wset[windowed]]
            else:
                closed = ~table.ravel()[p_tz[prof_all[w_pid]].astype(np.int64) * table.shape[1] + wset[windowed]]
            if closed.any():
                bad = np.sort(w_pid[closed])
                b_first = np.flatnonzero(np.r_[True, bad[1:] != bad[:-1]])
                b_counts = np.diff(np.r_[b_first, len(bad)])
                at_pos = np.searchsorted(slots, bad[b_first])
                in_area = np.diff(np.r_[starts, len(srt)])[at_pos]
                gone = at_pos[b_counts == in_area]
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
                members = _Members(
                    slots[keep], prof_all, profiles.array("lang"), contact, self._ids, self._phone.a,
                    self._emails, self._languages,
                )
            result[name] = ChannelSelection(name, contact, len(keep), skipped, members)
        return Selection(len(slots), result, radius, transport, count_only)

    def _dedupe(self, slots: np.ndarray, eligible: np.ndarray, contact: Contact) -> tuple[np.ndarray, int]:
        """Of the ``eligible`` positions (in ``slots``), those that keep their contact address, and how
        many lost it (``duplicate_address``).

        Where several eligible participants share a phone number or e-mail address, the one added to
        the index first (lowest slot) keeps it. Only participants whose value is known to repeat
        (flagged at build time, or equal to a value added since) are compared.
        """
        if not len(eligible):
            return eligible, 0
        email = contact is Contact.EMAIL
        chosen = np.take(slots, eligible)
        column = self._email_h.a if email else self._phone.a
        suspect = (np.take(self._shared.a, chosen) & (_SHARED_EMAIL if email else _SHARED_PHONE)) != 0
        if self._shared.n > self._n_main:
            overlay = self._overlay_values("email" if email else "phone")
            suspect |= _members(column[chosen], overlay)
        shared = np.flatnonzero(suspect)  # indices into ``eligible``
        if len(shared) < 2:
            return eligible, 0
        values = column[chosen[shared]]
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

    # -- snapshots -------------------------------------------------------------------------------

    def snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The index as (small tables, arrays) for :mod:`hub.snapshot`; compacts first if needed.

        The arrays returned are not changed by later updates (those go to the overlay and to new
        arrays), so they may be written out in another thread while the index keeps serving.
        """
        if not self.compacted:
            self.compact()
        p = self._profiles
        keys = sorted(p.index.items(), key=lambda kv: kv[1])
        profiles = []
        for (channels, quiet, tz, lang, contacts), _ in keys:
            q = [quiet.start, quiet.end, list(quiet.channels)] if quiet else None
            profiles.append([list(channels), q, tz, lang, contacts])
        windows = [
            [[list(w.days), w.start, w.end] for w in ws] for ws, _ in sorted(self._wsets.index.items(), key=lambda kv: kv[1])
        ]
        meta = {
            "cell_deg": self.cell_deg,
            "hash": "crc32",
            "zones": list(self._zones),
            "languages": list(self._languages),
            "profiles": profiles,
            "window_sets": windows,
        }
        arrays = {
            "a_lat": self._a_lat,
            "a_lon": self._a_lon,
            "a_pid": self._a_pid,
            "a_set": self._a_set,
            "cell_keys": self._cell_keys,
            "cell_start": self._cell_start,
            "idh_sorted": self._idh_sorted,
            "idh_slot": self._idh_slot,
            "prof": self._prof.v,
            "pause": self._pause.v,
            "phone": self._phone.v,
            "email_h": self._email_h.v,
            "shared": self._shared.v,
            "ids_blob": np.frombuffer(self._ids.blob, dtype=np.uint8),
            "ids_starts": self._ids.starts,
            "emails_blob": np.frombuffer(self._emails.blob, dtype=np.uint8),
            "emails_starts": self._emails.starts,
        }
        return meta, arrays

    @classmethod
    def from_snapshot(
        cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray], *, auto_compact: bool = True
    ) -> AudienceIndex:
        """The index :meth:`snapshot` described. Raises ``ValueError`` for a snapshot it cannot use."""
        if meta.get("hash") != "crc32":
            raise ValueError(f"snapshot hashes with {meta.get('hash')!r}, this index with crc32")
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
        index._ids = _Strings.from_blob(a["ids_blob"].tobytes(), a["ids_starts"])
        index._emails = _Strings.from_blob(a["emails_blob"].tobytes(), a["emails_starts"])
        if index._ids.main_len != n or index._emails.main_len != n:
            raise ValueError("snapshot columns disagree in length")
        index._prof = _Grow(a["prof"])
        index._pause = _Grow(a["pause"])
        index._phone = _Grow(a["phone"])
        index._email_h = _Grow(a["email_h"])
        index._alive = _Grow(np.ones(n, dtype=bool))
        index._a_lat, index._a_lon = a["a_lat"], a["a_lon"]
        index._a_pid, index._a_set = a["a_pid"], a["a_set"]
        index._cell_keys, index._cell_start = a["cell_keys"], a["cell_start"]
        index._main_addresses = len(index._a_lat)
        index._n_main = n
        index._dead = 0
        index._idh_sorted, index._idh_slot = a["idh_sorted"], a["idh_slot"]
        index._shared = _Grow(a["shared"])
        index._empty_overlay()
        return index

    # -- introspection ---------------------------------------------------------------------------

    def nbytes(self) -> int:
        """Approximate memory held by the index, in bytes."""
        arrays = (self._a_lat, self._a_lon, self._a_pid, self._a_set, self._cell_keys, self._cell_start)
        arrays += (self._idh_sorted, self._idh_slot)
        total = sum(a.nbytes for a in arrays)
        columns = (self._prof, self._pause, self._phone, self._email_h, self._alive, self._shared)
        total += sum(g.nbytes() for g in columns)
        total += self._ids.nbytes() + self._emails.nbytes()
        total += sum(len(a) * a.itemsize for a in (self._o_lat, self._o_lon, self._o_pid, self._o_set))
        total += len(self._overlay_ids) * 100
        return total

    def stats(self) -> dict[str, Any]:
        """Sizes for monitoring: participants, addresses, overlay, tombstones, profiles, memory."""
        return {
            "participants": len(self),
            "addresses": self._main_addresses + self.overlay_size,
            "overlay_addresses": self.overlay_size,
            "tombstones": self._dead,
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
