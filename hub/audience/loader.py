"""Filling an index in bulk: from participant objects, stored records, or parts built in other processes."""

from __future__ import annotations

import json
import math
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np

from ..participants import (
    DAYS,
    DEFAULT_LANGUAGE,
    DEFAULT_PHONE_CHANNELS,
    DEFAULT_TIMEZONE,
    INTERRUPTIVE_CHANNELS,
    Participant,
    QuietHours,
    Window,
    _minutes,
    parse_pause,
    pause_end,
    zone,
)
from . import columns
from .columns import _Strings
from .tables import _HAS_EMAIL, _HAS_MOBILE, _HAS_PHONE, _INT32_MAX

if TYPE_CHECKING:
    from .index import AudienceIndex

_MOBILE_USES = DEFAULT_PHONE_CHANNELS["mobile"]
_LANDLINE_USES = DEFAULT_PHONE_CHANNELS["landline"]


@dataclass
class _Columns:
    """Everything :class:`IndexLoader` gathered, in load order, ready to be sorted into an index."""

    ids: _Strings
    emails: _Strings
    idh: np.ndarray
    prof: np.ndarray
    pause: np.ndarray
    phone: np.ndarray  # the number to text, else the number to call
    second_slot: np.ndarray  # the (load order) slots whose number to call differs from their number to text
    second_number: np.ndarray  # ... and that number to call
    email_h: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    pid: np.ndarray
    wset: np.ndarray


_LOADER_COLUMNS = {
    "prof": np.int32,
    "pause": np.int32,
    "phone": np.int64,
    "second_slot": np.int32,
    "second_number": np.int64,
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
        self._second_slot = array("i")
        self._second_number = array("q")
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
            self._idh.append(np.fromiter(map(columns._h32, ids), dtype=np.int32, count=len(ids)))

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
            pr, pa, ph, se, eh, email = row(p)
            ids.append(p.id)
            emails.append(email)
            prof.append(pr)
            pause.append(pa)
            phone.append(ph)
            if se:
                self._second_slot.append(slot)
                self._second_number.append(se)
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
        h32 = columns._h32
        quiet_cache, window_cache, pause_cache = self._quiet, self._windows, self._pauses
        prof, pause, phone, email_h = self._prof, self._pause, self._phone, self._email_h
        second_slot, second_number = self._second_slot, self._second_number
        a_lat, a_lon, a_pid, a_set = self._lat, self._lon, self._pid, self._wset
        ids: list[str] = []
        emails: list[str] = []
        slot = self.count
        for d in records:
            text = call = 0
            flags = 0
            phones = d.get("phones")
            if phones:
                # only verified contacts enter the index (a record without the flag predates it); a
                # phone without channels takes the default of its kind (a record may predate them)
                call_mobile = False
                for ph in phones:
                    if ph.get("verified", True):
                        mobile = ph.get("kind", "mobile") == "mobile"  # as participants.py reads it
                        uses = ph.get("channels")
                        if uses is None:
                            uses = _MOBILE_USES if mobile else _LANDLINE_USES
                        if not text and "sms" in uses:
                            text = int(ph["number"][1:])
                        if "voice" in uses and not call_mobile and (not call or mobile):
                            call = int(ph["number"][1:])
                            call_mobile = mobile
                flags = (_HAS_MOBILE if text else 0) | (_HAS_PHONE if call else 0)
            email = (d.get("email") or "") if d.get("email_verified", True) else ""
            if email:
                flags |= _HAS_EMAIL
                eh = h32(email)
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
            if text and call and call != text:  # as AudienceIndex._row: one number, a second where they differ
                phone.append(text)
                second_slot.append(slot)
                second_number.append(call)
            else:
                phone.append(text or call)
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
            self._second_slot.frombytes((part["second_slot"] + np.int32(self.count)).astype(np.int32).tobytes())
            for name in ("pause", "phone", "second_number", "email_h", "lat", "lon"):
                getattr(self, "_" + name).frombytes(np.ascontiguousarray(part[name]).tobytes())
            self._ids.append(part["ids"])
            self._emails.append(part["emails"])
            self._idh.append(part["idh"])
        self.count += int(part["count"])

    def finish(self) -> AudienceIndex:
        """Sort what was added into the index (replacing its main arrays) and return the index."""
        ids = _Strings.from_blob(bytearray().join(self._ids)) if self._ids else _Strings()
        emails = _Strings.from_blob(bytearray().join(self._emails)) if self._emails else _Strings()
        self._ids.clear()
        self._emails.clear()
        columns = _Columns(
            ids=ids,
            emails=emails,
            idh=np.concatenate(self._idh) if self._idh else np.zeros(0, dtype=np.int32),
            prof=np.frombuffer(self._prof, dtype=np.int32),
            pause=np.frombuffer(self._pause, dtype=np.int32),
            phone=np.frombuffer(self._phone, dtype=np.int64),
            second_slot=np.frombuffer(self._second_slot, dtype=np.int32),
            second_number=np.frombuffer(self._second_number, dtype=np.int64),
            email_h=np.frombuffer(self._email_h, dtype=np.int32),
            lat=np.frombuffer(self._lat, dtype=np.float64),
            lon=np.frombuffer(self._lon, dtype=np.float64),
            pid=np.frombuffer(self._pid, dtype=np.int32),
            wset=np.frombuffer(self._wset, dtype=np.int32),
        )
        self.index._install(columns)
        return self.index
