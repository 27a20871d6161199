"""Participants: who may be reached, on what, where and when.

A participant (aged 16 or over, living or working in the area) registers one or more addresses, the
channels they want, their phone numbers and e-mail address, and when they do not want to be disturbed:

* **availability windows per address**: e.g. a work address only on weekdays 08:00-18:00; an address
  without windows is always available. A window whose end lies before its start runs past midnight
  (``{"days": ["fri"], "from": "22:00", "to": "06:00"}`` covers Friday 22:00 to Saturday 06:00).
* **quiet hours**: a daily window (``23:00``-``07:00``) during which the interruptive channels (voice,
  sms, app by default) stay silent, unless the action bypasses quiet hours.
* **a pause** (``paused_until``): nothing at all is sent until then; a holiday is just a pause.

Times are evaluated in the participant's own time zone (``Europe/Amsterdam`` unless set).

Each phone number may say what it is used for (``"channels": ["sms"]``, ``["voice"]``, both or
neither; a landline cannot take sms); without that it takes the default of its kind (a mobile sms and
voice, a landline voice). Texts go to :attr:`Participant.sms_number`, calls to
:attr:`Participant.voice_number`; the participant-wide ``channels`` still says which channels are
wanted at all.

The JSON form is described by ``schemas/participant.schema.json``; :meth:`Participant.from_dict`
validates and normalises it (phone numbers to E.164 with the ``phonenumbers`` library, default region
NL) and :meth:`Participant.to_dict` gives it back. :func:`parse_csv` imports participants in bulk.

Reasons a participant is not reached on a channel are the machine-readable :class:`SkipReason`
values, checked in this order: ``paused``, ``channel_not_chosen``, ``no_contact``,
``address_unavailable`` (audience selection only), ``quiet_hours``, ``duplicate_address``
(audience selection only). Durable choices of the participant come first, passing states after.
"""

from __future__ import annotations

import base64
import csv
import enum
import functools
import io
import math
import re
import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import Any, Iterable, Iterator, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from . import schemas
from .channel import Contact
from .errors import ValidationError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names in ``datetime.weekday()`` order."""

WEEKDAYS = DAYS[:5]
DEFAULT_TIMEZONE = "Europe/Amsterdam"
DEFAULT_REGION = "NL"
DEFAULT_LANGUAGE = "nl"
LANGUAGES = ("nl", "en")
INTERRUPTIVE_CHANNELS = ("voice", "sms", "app")
"""Channels that quiet hours silence when a participant does not name their own list."""


class SkipReason(enum.StrEnum):
    """Why a participant in the area is not reached on a channel."""

    PAUSED = "paused"
    CHANNEL_NOT_CHOSEN = "channel_not_chosen"
    NO_CONTACT = "no_contact"
    ADDRESS_UNAVAILABLE = "address_unavailable"
    QUIET_HOURS = "quiet_hours"
    DUPLICATE_ADDRESS = "duplicate_address"


# -- small value types ---------------------------------------------------------------------------


def _minutes(text: str) -> int:
    """``"08:30"`` -> 510; ``"24:00"`` -> 1440."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _in_daily_window(start: int, end: int, minute: int) -> bool:
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end  # runs past midnight


@dataclass(frozen=True, slots=True)
class Window:
    """An availability window: on ``days`` (0 = Monday) from ``start`` to ``end`` minutes past midnight.

    ``end`` before ``start`` means the window runs into the next day; ``days`` are the days it starts on.
    """

    days: tuple[int, ...]
    start: int
    end: int

    @property
    def day_mask(self) -> int:
        """Bit ``d`` set for each weekday ``d`` the window starts on."""
        mask = 0
        for d in self.days:
            mask |= 1 << d
        return mask

    def covers(self, weekday: int, minute: int) -> bool:
        """Whether a local weekday (0 = Monday) and minute of the day fall in this window."""
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        if minute >= self.start:
            return weekday in self.days
        return minute < self.end and (weekday - 1) % 7 in self.days

    def to_dict(self) -> dict[str, Any]:
        return {"days": [DAYS[d] for d in self.days], "from": _hhmm(self.start), "to": _hhmm(self.end)}


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window in which the listed channels stay silent."""

    start: int
    end: int
    channels: tuple[str, ...] = INTERRUPTIVE_CHANNELS

    def covers(self, minute: int) -> bool:
        return _in_daily_window(self.start, self.end, minute)

    def to_dict(self) -> dict[str, Any]:
        return {"from": _hhmm(self.start), "to": _hhmm(self.end), "channels": list(self.channels)}


PHONE_CHANNELS = ("sms", "voice")
"""The channels a phone number can be named for, in their canonical order."""

DEFAULT_PHONE_CHANNELS: Mapping[str, tuple[str, ...]] = {"mobile": ("sms", "voice"), "landline": ("voice",)}
"""What a number is used for when it names no channels: a mobile takes SMS and calls, a landline calls."""


@dataclass(frozen=True, slots=True)
class Phone:
    """A phone number in E.164 form, whether it is a ``mobile`` or a ``landline``, whether its owner
    proved it is theirs (:mod:`hub.verification`; only a verified number is ever alerted), and which
    of :data:`PHONE_CHANNELS` it is used for (``None``: the default of its kind,
    :data:`DEFAULT_PHONE_CHANNELS`)."""

    number: str
    kind: str
    verified: bool = True
    channels: tuple[str, ...] | None = None

    @property
    def uses(self) -> tuple[str, ...]:
        """The channels this number takes: its own choice, else the default of its kind."""
        if self.channels is not None:
            return self.channels
        return DEFAULT_PHONE_CHANNELS.get(self.kind, ("voice",))

    def takes(self, channel: str) -> bool:
        """Whether messages of ``channel`` (``sms``, ``voice``) may go to this number."""
        return channel in self.uses

    def to_dict(self) -> dict[str, Any]:
        """The stored form: ``verified`` appears only when false (a record without it is verified),
        ``channels`` only when the number names its own (a record without it takes the default)."""
        out: dict[str, Any] = {"number": self.number, "kind": self.kind}
        if not self.verified:
            out["verified"] = False
        if self.channels is not None:
            out["channels"] = list(self.channels)
        return out


def phone_channels(given: Iterable[str] | None, kind: str, *, field: str) -> tuple[str, ...] | None:
    """The channels a phone names, in canonical order; ``None`` (no choice) when none are given or
    they are the default of its kind, so that an answer that spells the defaults out (:func:`explicit`)
    and comes back unchanged changes nothing stored.

    Raises :class:`~hub.errors.ValidationError` naming ``field`` for a channel a phone cannot take
    (anything but sms and voice, or sms on a landline).
    """
    if given is None:
        return None
    chosen = set(given)
    unknown = sorted(chosen - set(PHONE_CHANNELS))
    if unknown:
        raise ValidationError(field, f"a phone takes only sms and voice, not {unknown[0]!r}")
    if kind == "landline" and "sms" in chosen:
        raise ValidationError(field, "a landline cannot take sms")
    uses = tuple(c for c in PHONE_CHANNELS if c in chosen)
    return None if uses == DEFAULT_PHONE_CHANNELS.get(kind) else uses


@dataclass(frozen=True, slots=True)
class Address:
    """A place where the participant lives, works or stays, and when messages for it are wanted."""

    lat: float
    lon: float
    label: str = "home"
    postcode: str | None = None
    city: str | None = None
    availability: tuple[Window, ...] = ()

    def available(self, weekday: int, minute: int) -> bool:
        """Whether the address is wanted at a local weekday and minute (always, without windows)."""
        return not self.availability or any(w.covers(weekday, minute) for w in self.availability)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "lat": self.lat, "lon": self.lon}
        if self.postcode:
            out["postcode"] = self.postcode
        if self.city:
            out["city"] = self.city
        if self.availability:
            out["availability"] = [w.to_dict() for w in self.availability]
        return out


# -- normalisation helpers -----------------------------------------------------------------------

_MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    # numbering plans such as the US do not tell mobiles from landlines: prefer a possible SMS
    # (which may fail) over never texting a mobile
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}
_REJECTED_TYPES = {
    phonenumbers.PhoneNumberType.TOLL_FREE,
    phonenumbers.PhoneNumberType.PREMIUM_RATE,
    phonenumbers.PhoneNumberType.SHARED_COST,
    phonenumbers.PhoneNumberType.VOICEMAIL,
}


def normalize_phone(raw: str, *, region: str = DEFAULT_REGION, field: str = "number") -> Phone:
    """Parse a phone number written any common way into E.164 and derive its kind.

    ``region`` is assumed for numbers without a country code. Raises
    :class:`~hub.errors.ValidationError` naming ``field`` for anything that is not a valid personal
    number (toll-free, premium-rate and shared-cost numbers are refused).
    """
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as e:
        raise ValidationError(field, "not a phone number") from e
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(field, "not a valid phone number")
    kind = phonenumbers.number_type(parsed)
    if kind in _REJECTED_TYPES:
        raise ValidationError(field, "not a personal phone number")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return Phone(e164, "mobile" if kind in _MOBILE_TYPES else "landline")


@functools.lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """A cached :class:`zoneinfo.ZoneInfo`; raises ``ValueError`` for an unknown zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {name!r}") from e


def parse_pause(text: str) -> date | datetime:
    """``"2025-08-01"`` -> a date; ``"2025-08-01T18:00"`` (with or without offset) -> a datetime."""
    text = text.strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text)


def pause_end(paused_until: date | datetime | None, tz: ZoneInfo) -> datetime | None:
    """The aware moment a pause ends: a date means the start of that day in ``tz``."""
    if paused_until is None:
        return None
    if isinstance(paused_until, datetime):
        return paused_until if paused_until.tzinfo else paused_until.replace(tzinfo=tz)
    return datetime.combine(paused_until, time(0, 0), tzinfo=tz)


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("'at' must be a timezone-aware datetime")


# -- schema validation ---------------------------------------------------------------------------


def _validate(data: Any) -> None:
    """Validate against ``schemas/participant.schema.json`` (compiled once by :mod:`hub.schemas`)."""
    schemas.validate("participant", data)


# -- the participant -----------------------------------------------------------------------------


def new_id() -> str:
    """A fresh random participant id: 16 characters, 80 random bits."""
    return base64.b32encode(secrets.token_bytes(10)).decode().lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class Participant:
    """A registered participant. Build from JSON with :meth:`from_dict`; serialise with :meth:`to_dict`.

    The constructor trusts its arguments (normalised values, aware or date ``paused_until``); use it for
    data that already went through :meth:`from_dict` or for synthetic data.
    """

    id: str
    addresses: tuple[Address, ...]
    language: str = DEFAULT_LANGUAGE
    timezone: str = DEFAULT_TIMEZONE
    phones: tuple[Phone, ...] = ()
    email: str | None = None
    #: the owner confirmed the e-mail address by a link (an unconfirmed address is never alerted)
    email_verified: bool = True
    channels: tuple[str, ...] = ()
    quiet_hours: QuietHours | None = None
    paused_until: date | datetime | None = None
    #: with the app and SMS: the app first, SMS only if the app has not confirmed delivery in time
    #: (``[hub] app_first_seconds``; never for a crisis). See :mod:`hub.fallback`.
    app_first: bool = False
    #: at most this many actions in any 7 days (enforced when an action's audience is chosen)
    max_actions_per_week: int | None = None

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        validate: bool = True,
        region: str = DEFAULT_REGION,
        verified: bool = True,
    ) -> Participant:
        """Validate and normalise a participant's JSON form.

        Raises :class:`~hub.errors.ValidationError` with a dotted ``field`` (``phones[0].number``).
        With ``validate=False`` the data is trusted to be normalised already (the output of
        :meth:`to_dict`, e.g. read back from the store): no schema check and no phone parsing.

        Verification: the flags in validated input are ignored (data never proves itself): every
        phone number and the e-mail address get ``verified``. Trusted callers (the command line,
        samples, tests) keep the default; whatever takes a person's input passes ``verified=False``,
        as the HTTP API and the participant page do, so those contacts stay unreachable until proven
        (:mod:`hub.verification`; :func:`carry_verification` for updates). A trusted stored record
        keeps its flags; one stored before contacts carried them counts as verified (it was entered
        by an operator and alerted already).
        """
        if validate:
            if not isinstance(data, Mapping):
                raise ValidationError("(root)", "must be an object")
            _validate(dict(data))
        try:
            tz_name = data.get("timezone") or DEFAULT_TIMEZONE
            zone(tz_name)
        except ValueError as e:
            raise ValidationError("timezone", "unknown time zone") from e

        phones: list[Phone] = []
        for i, entry in enumerate(data.get("phones") or ()):
            if validate:
                phone = normalize_phone(entry["number"], region=region, field=f"phones[{i}].number")
                kind = entry.get("kind") or phone.kind
                uses = phone_channels(entry.get("channels"), kind, field=f"phones[{i}].channels")
                phone = Phone(phone.number, kind, verified, uses)
            else:
                uses = entry.get("channels")
                phone = Phone(
                    entry["number"], entry["kind"], entry.get("verified", True), None if uses is None else tuple(uses)
                )
            if all(p.number != phone.number for p in phones):
                phones.append(phone)

        addresses = []
        for i, a in enumerate(data["addresses"]):
            windows = []
            for j, w in enumerate(a.get("availability") or ()):
                start, end = _minutes(w["from"]), _minutes(w["to"])
                if start == end:
                    raise ValidationError(f"addresses[{i}].availability[{j}].to", "must differ from 'from'")
                days = tuple(sorted(DAYS.index(d) for d in w.get("days") or DAYS))
                windows.append(Window(days, start, end))
            lat, lon = float(a["lat"]), float(a["lon"])
            for name, value in (("lat", lat), ("lon", lon)):
                if not math.isfinite(value):
                    raise ValidationError(f"addresses[{i}].{name}", "must be a finite number")
            addresses.append(
                Address(
                    lat=lat,
                    lon=lon,
                    label=a.get("label") or "home",
                    postcode=(a.get("postcode") or "").strip().upper() or None,
                    city=(a.get("city") or "").strip() or None,
                    availability=tuple(windows),
                )
            )

        quiet = None
        if q := data.get("quiet_hours"):
            start, end = _minutes(q["from"]), _minutes(q["to"])
            if start == end:
                raise ValidationError("quiet_hours.to", "must differ from 'from'")
            channels = q.get("channels")
            quiet = QuietHours(start, end, tuple(channels) if channels is not None else INTERRUPTIVE_CHANNELS)

        paused = None
        if raw := data.get("paused_until"):
            try:
                paused = parse_pause(raw)
            except ValueError as e:
                raise ValidationError("paused_until", "not a date or date-time") from e

        email = data.get("email")
        return cls(
            id=data.get("id") or new_id(),
            addresses=tuple(addresses),
            language=data.get("language") or DEFAULT_LANGUAGE,
            timezone=tz_name,
            phones=tuple(phones),
            email=email.strip().lower() if email else None,
            email_verified=verified if validate else bool(data.get("email_verified", True)),
            channels=tuple(data.get("channels") or ()),
            quiet_hours=quiet,
            paused_until=paused,
            app_first=bool(data.get("app_first", False)),
            max_actions_per_week=data.get("max_actions_per_week"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The normalised JSON form; ``from_dict(p.to_dict()) == p``. Verified flags appear only when
        false (see :func:`explicit` for answers that spell them out)."""
        out: dict[str, Any] = {
            "id": self.id,
            "language": self.language,
            "timezone": self.timezone,
            "phones": [p.to_dict() for p in self.phones],
            "email": self.email,
            "channels": list(self.channels),
            "addresses": [a.to_dict() for a in self.addresses],
            "quiet_hours": self.quiet_hours.to_dict() if self.quiet_hours else None,
            "paused_until": self.paused_until.isoformat() if self.paused_until else None,
        }
        if self.app_first:
            out["app_first"] = True
        if self.email and not self.email_verified:
            out["email_verified"] = False
        if self.max_actions_per_week is not None:
            out["max_actions_per_week"] = self.max_actions_per_week
        return out

    # -- contact details -------------------------------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    @property
    def sms_number(self) -> str | None:
        """The number to text (E.164): the first verified phone that takes SMS (by default the first
        verified mobile)."""
        return next((p.number for p in self.phones if p.verified and p.takes("sms")), None)

    @property
    def voice_number(self) -> str | None:
        """The number to call (E.164): the first verified phone that takes calls, a mobile before a
        landline (by default the first verified mobile, else the first verified landline)."""
        first = None
        for p in self.phones:
            if p.verified and p.takes("voice"):
                if p.kind == "mobile":
                    return p.number
                first = first or p.number
        return first

    @property
    def mobile(self) -> str | None:
        """The number to text: :attr:`sms_number` (the name predates per-number channels)."""
        return self.sms_number

    @property
    def phone(self) -> str | None:
        """The number to call: :attr:`voice_number` (the name predates per-number channels)."""
        return self.voice_number

    @property
    def reachable_email(self) -> str | None:
        """The e-mail address, once confirmed."""
        return self.email if self.email_verified else None

    def contact_for(self, contact: Contact | str) -> str | None:
        """The address a participant channel delivers to: MOBILE (the number to text), PHONE (the
        number to call) or EMAIL.

        Only verified contacts count: an unverified number or address is never alerted.
        """
        contact = Contact(contact)
        if contact is Contact.MOBILE:
            return self.sms_number
        if contact is Contact.PHONE:
            return self.voice_number
        return self.reachable_email

    # -- time ------------------------------------------------------------------------------------

    def local(self, at: datetime) -> datetime:
        """``at`` in the participant's time zone (``at`` must be aware)."""
        _require_aware(at)
        return at.astimezone(self.tz)

    @property
    def pause_end(self) -> datetime | None:
        """The aware moment the pause ends, if any."""
        return pause_end(self.paused_until, self.tz)

    def is_paused(self, at: datetime) -> bool:
        _require_aware(at)
        end = self.pause_end
        return end is not None and at < end

    def address_available(self, address_index: int, at: datetime) -> bool:
        """Whether the participant wants messages for this address at ``at``."""
        local = self.local(at)
        return self.addresses[address_index].available(local.weekday(), local.hour * 60 + local.minute)

    def in_quiet_hours(self, channel: str, at: datetime) -> bool:
        """Whether ``channel`` is silenced by the participant's quiet hours at ``at``."""
        q = self.quiet_hours
        if q is None or channel not in q.channels:
            return False
        local = self.local(at)
        return q.covers(local.hour * 60 + local.minute)

    def reason_unavailable(
        self,
        channel: str,
        at: datetime,
        *,
        bypass_quiet_hours: bool = False,
        contact: Contact | str | None = None,
    ) -> str | None:
        """Why ``channel`` may not reach this participant at ``at``, or ``None`` if it may.

        Returns a :class:`SkipReason` value: ``paused``, ``channel_not_chosen``, ``no_contact`` (only
        when ``contact`` names what the channel delivers to) or ``quiet_hours`` (unless bypassed).
        Addresses are not considered here: see :meth:`address_available`.
        """
        _require_aware(at)
        if self.is_paused(at):
            return SkipReason.PAUSED
        if channel not in self.channels:
            return SkipReason.CHANNEL_NOT_CHOSEN
        if contact is not None and self.contact_for(contact) is None:
            return SkipReason.NO_CONTACT
        if not bypass_quiet_hours and self.in_quiet_hours(channel, at):
            return SkipReason.QUIET_HOURS
        return None


def explicit(data: Mapping[str, Any]) -> dict[str, Any]:
    """A participant's JSON form with every verified flag spelled out, for answers to people and
    programs (the stored form leaves out the flags of verified contacts)."""
    out = dict(data)
    out["phones"] = [
        {**p, "verified": p.get("verified", True), "channels": list(_stored_phone(p).uses)}
        for p in data.get("phones") or ()
    ]
    out["email_verified"] = bool(data.get("email")) and data.get("email_verified", True)
    return out


def _stored_phone(entry: Mapping[str, Any]) -> Phone:
    uses = entry.get("channels")
    return Phone(entry["number"], entry.get("kind", "mobile"), True, None if uses is None else tuple(uses))


def carry_verification(old: Participant | None, new: Participant) -> Participant:
    """``new`` with the verified state of every contact ``old`` had verified and ``new`` keeps
    unchanged: changing a number or address makes it unverified again, keeping it does not."""
    if old is None:
        return new
    proven = {p.number for p in old.phones if p.verified}
    phones = tuple(replace(p, verified=p.verified or p.number in proven) for p in new.phones)
    email_ok = new.email_verified or (new.email is not None and new.email == old.email and old.email_verified)
    return replace(new, phones=phones, email_verified=email_ok)


def with_verified(participant: Participant, *, number: str | None = None, email: str | None = None) -> Participant:
    """The participant with ``number`` (E.164) or ``email`` marked verified (unchanged if not theirs)."""
    phones = tuple(replace(p, verified=True) if p.number == number else p for p in participant.phones)
    email_ok = participant.email_verified or (email is not None and email == participant.email)
    return replace(participant, phones=phones, email_verified=email_ok)


# -- bulk import ---------------------------------------------------------------------------------

CSV_COLUMNS = (
    "id",
    "language",
    "mobile",
    "landline",
    "email",
    "channels",
    "home_lat",
    "home_lon",
    "work_lat",
    "work_lon",
    "work_days",
    "work_from",
    "work_to",
    "quiet_from",
    "quiet_to",
    "paused_until",
)
"""The documented CSV columns, in their usual order. Every column is optional in the header."""

CSV_EXTRA_COLUMNS = (
    "timezone",
    "home_postcode",
    "home_city",
    "work_postcode",
    "work_city",
    "mobile_channels",
    "landline_channels",
)
"""Further columns :func:`parse_csv` understands."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one CSV row: ``row`` counts the header as row 1 (as a spreadsheet does)."""

    row: int
    field: str
    reason: str
    id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "reason": self.reason, "id": self.id}


class _RowProblem(Exception):
    def __init__(self, column: str, reason: str):
        self.column = column
        self.reason = reason


_SPLIT = re.compile(r"[\s;,]+")
_DAY_NAMES = {
    **{d: d for d in DAYS},
    **dict(zip(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), DAYS)),
}


def _days(text: str) -> list[str]:
    """``"mon-fri"``, ``"mon tue wed"``, ``"sat;sun"`` -> day names."""
    out: list[str] = []
    for part in _SPLIT.split(text.strip().lower()):
        if not part:
            continue
        if "-" in part:
            first, _, last = part.partition("-")
            if first not in DAYS or last not in DAYS:
                raise _RowProblem("work_days", f"unknown day range {part!r}")
            i, j = DAYS.index(first), DAYS.index(last)
            span = range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)]
            out.extend(DAYS[d] for d in span)
        elif part in _DAY_NAMES:
            out.append(_DAY_NAMES[part])
        else:
            raise _RowProblem("work_days", f"unknown day {part!r}")
    return list(dict.fromkeys(out))


def _number(row: Mapping[str, str], column: str, decimal_comma: bool) -> float | None:
    text = (row.get(column) or "").strip()
    if not text:
        return None
    if decimal_comma:
        text = text.replace(",", ".")
    try:
        value = float(text)
    except ValueError as e:
        raise _RowProblem(column, "not a number") from e
    if not math.isfinite(value):
        raise _RowProblem(column, "not a number")
    return value


def _row_to_dict(
    row: Mapping[str, str], decimal_comma: bool, region: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """One CSV row -> (participant JSON, map of JSON path prefixes to the CSV columns they came from)."""

    def cell(column: str) -> str:
        return (row.get(column) or "").strip()

    data: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for column in ("id", "language", "email", "timezone", "paused_until"):
        if cell(column):
            data[column] = cell(column)
    if cell("language"):
        data["language"] = cell("language").lower()
    if cell("channels"):
        data["channels"] = [c for c in _SPLIT.split(cell("channels").lower()) if c]

    phones = []
    for column, kind in (("mobile", "mobile"), ("landline", "landline")):
        if cell(column):
            phone = normalize_phone(cell(column), region=region, field=column)
            if column == "mobile" and phone.kind != "mobile":
                raise _RowProblem("mobile", "not a mobile number")
            origin[f"phones[{len(phones)}]"] = column
            entry: dict[str, Any] = {"number": phone.number, "kind": kind}
            if cell(f"{column}_channels"):
                origin[f"phones[{len(phones)}].channels"] = f"{column}_channels"
                entry["channels"] = [c for c in _SPLIT.split(cell(f"{column}_channels").lower()) if c]
            phones.append(entry)
        elif cell(f"{column}_channels"):
            raise _RowProblem(f"{column}_channels", f"channels given without a {column} number")
    if phones:
        data["phones"] = phones

    addresses = []
    for prefix in ("home", "work"):
        lat = _number(row, f"{prefix}_lat", decimal_comma)
        lon = _number(row, f"{prefix}_lon", decimal_comma)
        if (lat is None) != (lon is None):
            missing = f"{prefix}_lon" if lon is None else f"{prefix}_lat"
            raise _RowProblem(missing, f"{prefix}_lat and {prefix}_lon go together")
        if lat is None:
            if prefix == "work" and any(cell(c) for c in ("work_days", "work_from", "work_to")):
                raise _RowProblem("work_lat", "work hours given without a work address")
            continue
        address: dict[str, Any] = {"label": prefix, "lat": lat, "lon": lon}
        if cell(f"{prefix}_postcode"):
            address["postcode"] = cell(f"{prefix}_postcode")
        if cell(f"{prefix}_city"):
            address["city"] = cell(f"{prefix}_city")
        i = len(addresses)
        origin[f"addresses[{i}]"] = f"{prefix}_lat"
        origin[f"addresses[{i}].lon"] = f"{prefix}_lon"
        origin[f"addresses[{i}].postcode"] = f"{prefix}_postcode"
        origin[f"addresses[{i}].city"] = f"{prefix}_city"
        if prefix == "work" and any(cell(c) for c in ("work_days", "work_from", "work_to")):
            if not cell("work_from") or not cell("work_to"):
                missing = "work_from" if not cell("work_from") else "work_to"
                raise _RowProblem(missing, "work_from and work_to go together")
            days = _days(cell("work_days")) if cell("work_days") else list(WEEKDAYS)
            address["availability"] = [{"days": days, "from": cell("work_from"), "to": cell("work_to")}]
            origin[f"addresses[{i}].availability[0].days"] = "work_days"
            origin[f"addresses[{i}].availability[0].from"] = "work_from"
            origin[f"addresses[{i}].availability[0].to"] = "work_to"
        addresses.append(address)
    if not addresses:
        raise _RowProblem("home_lat", "a home or work address (lat and lon) is required")
    data["addresses"] = addresses

    if cell("quiet_from") or cell("quiet_to"):
        if not cell("quiet_from") or not cell("quiet_to"):
            missing = "quiet_from" if not cell("quiet_from") else "quiet_to"
            raise _RowProblem(missing, "quiet_from and quiet_to go together")
        data["quiet_hours"] = {"from": cell("quiet_from"), "to": cell("quiet_to")}
    origin["quiet_hours.to"] = "quiet_to"
    origin["quiet_hours"] = "quiet_from"
    origin["channels"] = "channels"
    return data, origin


def _column_for(path: str, origin: Mapping[str, str]) -> str:
    """The CSV column a JSON path (``phones[1].number``) came from: the longest matching prefix."""
    best = ""
    for prefix in origin:
        matches = path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")
        if matches and len(prefix) > len(best):
            best = prefix
    if best:
        return origin[best]
    return path.split(".")[0].split("[")[0]


def parse_csv(
    text: str, *, region: str = DEFAULT_REGION, verified: bool = False
) -> tuple[list[Participant], list[RowError]]:
    """Import participants from CSV text; return the good ones and one :class:`RowError` per problem.

    Columns (header names, any order, all optional; see :data:`CSV_COLUMNS`, :data:`CSV_EXTRA_COLUMNS`):

    ``id``
        kept if given, generated otherwise; a repeated id is an error on the later row.
    ``language``
        ``nl`` (default) or ``en``.
    ``mobile``, ``landline``
        phone numbers in any common notation; national numbers are taken as Dutch. ``mobile`` must be
        a mobile number.
    ``email``
        one e-mail address.
    ``channels``
        channel names separated by spaces or ``;`` (``sms voice email``).
    ``home_lat``, ``home_lon``, ``work_lat``, ``work_lon``
        WGS84 degrees; at least one of the two addresses is required. A decimal comma is accepted
        in files separated by ``;`` or tabs.
    ``work_days``, ``work_from``, ``work_to``
        when the work address is wanted: ``mon-fri`` (default when times are given), ``mon tue``;
        ``08:00`` and ``18:00``. Without them the work address is always wanted.
    ``quiet_from``, ``quiet_to``
        daily quiet hours (``23:00``, ``07:00``) for the interruptive channels.
    ``paused_until``
        a date (``2025-08-01``) or date-time; nothing is sent until then.
    ``timezone``, ``home_postcode``, ``home_city``, ``work_postcode``, ``work_city``
        optional extras.
    ``mobile_channels``, ``landline_channels``
        what that number is used for, separated like ``channels``: ``sms``, ``voice`` or both
        (``sms`` only on the mobile); empty: the default (a mobile takes both, a landline calls).

    The delimiter (``,``, ``;`` or tab) is taken from the header line. Blank rows are skipped. An
    unknown column makes the whole file an error (row 1), since its data would otherwise be lost
    silently. A bad row never stops the good rows from being imported.

    Contacts are unverified unless ``verified`` (an operator vouches for the whole file).
    """
    text = text.lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line else (";" if first_line.count(";") > first_line.count(",") else ",")
    # newline="": line breaks inside quoted cells stay data, and a lone "\r" ends a line as csv expects
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return [], []
    except csv.Error as e:
        return [], [RowError(1, "(row)", f"not CSV: {e}")]
    header = [h.strip().lower() for h in header]
    known = set(CSV_COLUMNS) | set(CSV_EXTRA_COLUMNS)
    errors: list[RowError] = []
    for name in header:
        if name and name not in known:
            errors.append(RowError(1, name, "unknown column"))
    duplicates = sorted({h for h in header if h and header.count(h) > 1})
    errors.extend(RowError(1, name, "column appears twice") for name in duplicates)
    if errors:
        return [], errors

    participants: list[Participant] = []
    seen: dict[str, int] = {}
    for row_no, values in enumerate(_rows(reader), start=2):
        if isinstance(values, csv.Error):
            errors.append(RowError(row_no, "(row)", f"not CSV: {values}"))
            break
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(header):
            errors.append(RowError(row_no, "(row)", f"has {len(values)} fields, the header {len(header)}"))
            continue
        row = dict(zip(header, values))
        row_id = (row.get("id") or "").strip() or None
        origin: dict[str, str] = {}
        try:
            data, origin = _row_to_dict(row, delimiter != ",", region)
            participant = Participant.from_dict(data, region=region, verified=verified)
        except _RowProblem as e:
            errors.append(RowError(row_no, e.column, e.reason, row_id))
            continue
        except ValidationError as e:
            for path, reason in e.errors:
                column = path if path in known else _column_for(path, origin)
                errors.append(RowError(row_no, column, reason, row_id))
            continue
        if participant.id in seen:
            errors.append(RowError(row_no, "id", f"already used on row {seen[participant.id]}", row_id))
            continue
        seen[participant.id] = row_no
        participants.append(participant)
    return participants, errors


def _rows(reader: Any) -> Iterator[list[str] | csv.Error]:
    """The reader's rows; a row the csv module cannot read ends them with its error."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield e
            return


def participants_from_dicts(items: Iterable[Mapping[str, Any]], *, validate: bool = False) -> list[Participant]:
    """Participants from stored JSON forms (trusted and normalised unless ``validate``)."""
    return [Participant.from_dict(d, validate=validate) for d in items]


__all__ = [
    "Address",
    "CSV_COLUMNS",
    "CSV_EXTRA_COLUMNS",
    "DAYS",
    "DEFAULT_TIMEZONE",
    "DEFAULT_PHONE_CHANNELS",
    "INTERRUPTIVE_CHANNELS",
    "PHONE_CHANNELS",
    "Participant",
    "Phone",
    "QuietHours",
    "RowError",
    "SkipReason",
    "Window",
    "carry_verification",
    "explicit",
    "normalize_phone",
    "parse_csv",
    "participants_from_dicts",
    "phone_channels",
    "with_verified",
    "zone",
]
