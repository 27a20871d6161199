"""The narrow, frozen, typed models that plugins see.

Channels never get the app, the store or the plugin manager: they get an :class:`ActionView`, a
:class:`Notice` (what is being said), :class:`Recipient` and :class:`Delivery` values, and answer with
:class:`Receipt` values. Everything here is immutable and cheap to create in bulk.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping


class Urgency(enum.StrEnum):
    TIME_CRITICAL = "time_critical"
    NON_URGENT = "non_urgent"


class ActionType(enum.StrEnum):
    MISSING_PERSON = "missing_person"
    BURGLARY = "burglary"
    ROBBERY = "robbery"
    HIT_AND_RUN = "hit_and_run"
    SHOPLIFTING = "shoplifting"
    SUSPICIOUS_VEHICLE = "suspicious_vehicle"
    CRISIS = "crisis"
    NEIGHBOURHOOD_INQUIRY = "neighbourhood_inquiry"
    PREVENTION = "prevention"


class Domain(enum.StrEnum):
    """The four domains of the network: informing, involving, alerting, tracing."""

    INFORM = "inform"
    INVOLVE = "involve"
    ALERT = "alert"
    TRACE = "trace"


DEFAULT_DOMAIN: Mapping[ActionType, Domain] = {
    ActionType.MISSING_PERSON: Domain.TRACE,
    ActionType.BURGLARY: Domain.TRACE,
    ActionType.ROBBERY: Domain.TRACE,
    ActionType.HIT_AND_RUN: Domain.TRACE,
    ActionType.SHOPLIFTING: Domain.TRACE,
    ActionType.SUSPICIOUS_VEHICLE: Domain.TRACE,
    ActionType.CRISIS: Domain.ALERT,
    ActionType.NEIGHBOURHOOD_INQUIRY: Domain.INVOLVE,
    ActionType.PREVENTION: Domain.INFORM,
}


class ActionStatus(enum.StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class Result(enum.StrEnum):
    """How an action ended. Which results fit which type is :data:`RESULTS_BY_TYPE`."""

    FOUND = "found"  # the missing person
    ARRESTED = "arrested"  # the suspect
    VEHICLE_FOUND = "vehicle_found"
    USEFUL_INFORMATION = "useful_information"  # participants gave the police useful information
    ALL_CLEAR = "all_clear"  # a crisis: the danger is over
    ENDED_WITHOUT_RESULT = "ended_without_result"
    CANCELLED = "cancelled"


_ANY_END = (Result.ENDED_WITHOUT_RESULT, Result.CANCELLED)
_CRIME = (Result.ARRESTED, Result.VEHICLE_FOUND, Result.USEFUL_INFORMATION, *_ANY_END)
_VEHICLE = (Result.VEHICLE_FOUND, Result.ARRESTED, Result.USEFUL_INFORMATION, *_ANY_END)

#: the results an action of each type may end with, the likeliest first (the console offers them in
#: this order); every type may end without result (also when it expires) or be cancelled
RESULTS_BY_TYPE: Mapping[ActionType, tuple[Result, ...]] = {
    ActionType.MISSING_PERSON: (Result.FOUND, Result.USEFUL_INFORMATION, *_ANY_END),
    ActionType.BURGLARY: _CRIME,
    ActionType.ROBBERY: _CRIME,
    ActionType.SHOPLIFTING: _CRIME,
    ActionType.HIT_AND_RUN: _VEHICLE,
    ActionType.SUSPICIOUS_VEHICLE: _VEHICLE,
    ActionType.CRISIS: (Result.ALL_CLEAR, *_ANY_END),
    ActionType.NEIGHBOURHOOD_INQUIRY: (Result.USEFUL_INFORMATION, Result.ARRESTED, *_ANY_END),
    ActionType.PREVENTION: _ANY_END,
}


class MessageKind(enum.StrEnum):
    """What a message is in an action's life. ``end`` is the closing message (the follow-up for inquiries)."""

    START = "start"
    UPDATE = "update"
    END = "end"


class SubjectKind(enum.StrEnum):
    PERSON = "person"
    VEHICLE = "vehicle"
    NONE = "none"


class TransportMode(enum.StrEnum):
    ON_FOOT = "on_foot"
    BICYCLE = "bicycle"
    SCOOTER = "scooter"
    CAR = "car"


@dataclass(frozen=True, slots=True, kw_only=True)
class Circle:
    """A circle on the earth. ``transport`` is set when the radius followed from a mode of transport."""

    lat: float
    lon: float
    radius_m: float
    transport: TransportMode | None = None

    kind = "circle"


@dataclass(frozen=True, slots=True, kw_only=True)
class Polygon:
    """A simple polygon as (lat, lon) vertices; the ring is closed implicitly."""

    points: tuple[tuple[float, float], ...]

    kind = "polygon"


Area = Circle | Polygon


@dataclass(frozen=True, slots=True, kw_only=True)
class Photo:
    url: str
    caption: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionView:
    """An action as channels see it: no participants, no delivery state."""

    id: str
    type: ActionType
    urgency: Urgency
    domain: Domain
    status: ActionStatus
    title: str
    description: str
    subject: SubjectKind
    area: Area
    region: str | None = None
    photos: tuple[Photo, ...] = ()
    result: Result | None = None
    result_text: str | None = None
    callback_number: str = "0800 0011"
    version: int = 1
    started_at: datetime | None = None
    ended_at: datetime | None = None
    expires_at: datetime | None = None
    #: what the recipient should do for their own safety, said first in every channel (required for a
    #: crisis; the dispatcher may give it for any action, e.g. "do not approach the suspect")
    safety_advice: str | None = None
    #: an NL-Alert went out for the same incident; messages refer to it
    nl_alert: bool = False
    #: the public page about this action, where one exists (``[hub] action_page_url``), else ``None``
    page_url: str | None = None
    #: why it ended when nobody ended it (``"expired"``), else ``None``
    end_reason: str | None = None

    @property
    def reference(self) -> str:
        """A short identity to quote in messages (the last 6 characters of the id, upper-case)."""
        return self.id[-6:].upper()


def area_to_dict(area: Area) -> dict[str, Any]:
    """An area as JSON: ``{"type": "circle", lat, lon, radius_m[, transport]}`` or ``{"type": "polygon", points}``."""
    if isinstance(area, Circle):
        d: dict[str, Any] = {"type": "circle", "lat": area.lat, "lon": area.lon, "radius_m": area.radius_m}
        if area.transport:
            d["transport"] = TransportMode(area.transport).value
        return d
    return {"type": "polygon", "points": [list(p) for p in area.points]}


def action_to_dict(action: ActionView) -> dict[str, Any]:
    """An :class:`ActionView` as JSON-ready data; :func:`action_from_dict` reads it back unchanged."""
    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": action.id,
        "type": action.type.value,
        "urgency": action.urgency.value,
        "domain": action.domain.value,
        "status": action.status.value,
        "title": action.title,
        "description": action.description,
        "subject": action.subject.value,
        "area": area_to_dict(action.area),
        "region": action.region,
        "photos": [{"url": p.url, "caption": p.caption} for p in action.photos],
        "result": action.result.value if action.result else None,
        "result_text": action.result_text,
        "callback_number": action.callback_number,
        "version": action.version,
        "started_at": when(action.started_at),
        "ended_at": when(action.ended_at),
        "expires_at": when(action.expires_at),
        "safety_advice": action.safety_advice,
        "nl_alert": action.nl_alert,
        "page_url": action.page_url,
        "end_reason": action.end_reason,
    }


def action_from_dict(data: Mapping[str, Any]) -> ActionView:
    """An :class:`ActionView` from :func:`action_to_dict`'s data (or a stored action; other keys are ignored)."""
    def when(key: str) -> datetime | None:
        return datetime.fromisoformat(data[key]) if data.get(key) else None

    area = data["area"]
    if (area.get("type") or area.get("kind")) == "circle":
        shape: Area = Circle(lat=area["lat"], lon=area["lon"], radius_m=float(area["radius_m"]),
                             transport=TransportMode(area["transport"]) if area.get("transport") else None)
    else:
        shape = Polygon(points=tuple((float(p[0]), float(p[1])) for p in area["points"]))
    return ActionView(
        id=data["id"],
        type=ActionType(data["type"]),
        urgency=Urgency(data["urgency"]),
        domain=Domain(data["domain"]),
        status=ActionStatus(data["status"]),
        title=data.get("title") or "",
        description=data["description"],
        subject=SubjectKind(data.get("subject", "none")),
        area=shape,
        region=data.get("region"),
        photos=tuple(Photo(url=p["url"], caption=p.get("caption")) for p in data.get("photos", ())),
        result=Result(data["result"]) if data.get("result") else None,
        result_text=data.get("result_text"),
        callback_number=data.get("callback_number", "0800 0011"),
        version=data.get("version", 1),
        started_at=when("started_at"),
        ended_at=when("ended_at"),
        expires_at=when("expires_at"),
        safety_advice=data.get("safety_advice") or None,
        nl_alert=bool(data.get("nl_alert", False)),
        page_url=data.get("page_url") or None,
        end_reason=data.get("end_reason") or None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """What is being said: one action at one moment of its life. ``changes`` lists updated fields."""

    action: ActionView
    kind: MessageKind
    changes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    """Someone or something a channel delivers to.

    ``address`` is channel-specific and unique per channel within an action (E.164 number, e-mail
    address, Messenger PSID, MQTT region, a province's account). ``participant_id`` is ``None`` for
    recipients that a channel owns itself (regions, accounts, app installs).
    """

    address: str
    participant_id: str | None = None
    language: str = "nl"
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One ledger row handed to a channel: this message kind of this action to this recipient."""

    id: int
    action_id: str
    channel: str
    kind: MessageKind
    recipient: Recipient
    attempt: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Rendered:
    """A message laid out for one channel and one language."""

    text: str
    subject: str | None = None
    html: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class ReceiptStatus(enum.StrEnum):
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"  # the provider confirmed it reached the recipient
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """A channel's answer for one delivery. A failure carries its typed error, never a bare bool."""

    delivery_id: int
    status: ReceiptStatus
    provider_id: str | None = None
    error: Exception | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def sent(cls, delivery: Delivery, provider_id: str | None = None, **detail: Any) -> "Receipt":
        return cls(delivery_id=delivery.id, status=ReceiptStatus.SENT, provider_id=provider_id, detail=detail)

    @classmethod
    def delivered(cls, delivery: Delivery, provider_id: str | None = None, **detail: Any) -> "Receipt":
        return cls(
            delivery_id=delivery.id, status=ReceiptStatus.DELIVERED, provider_id=provider_id, detail=detail
        )

    @classmethod
    def failed(cls, delivery: Delivery, error: Exception, provider_id: str | None = None) -> "Receipt":
        return cls(delivery_id=delivery.id, status=ReceiptStatus.FAILED, provider_id=provider_id, error=error)


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonalMessage:
    """One message to one person that belongs to no action: a code proving a phone number, a link
    confirming an e-mail address or signing in. The core writes the words (``text``, and for e-mail
    ``subject`` and ``html``); the channel only carries them (a call reads ``code``, which ``text``
    holds, digit by digit). ``purpose`` is ``verify_phone``, ``verify_email``, ``signup`` or ``signin``."""

    address: str
    language: str
    purpose: str
    text: str
    subject: str | None = None
    html: str | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Tip:
    """Something a participant saw, sent back to an action."""

    action_id: str
    text: str
    channel: str | None = None
    participant_id: str | None = None
    sender: str | None = None
    photo: bytes | None = None
    photo_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionEvent:
    """Passed to observers after a lifecycle change has been committed."""

    kind: MessageKind
    action: ActionView
    actor: str
    channels: tuple[str, ...] = ()
    targeted: int = 0
