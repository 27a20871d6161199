"""The public MQTT contract between the hub and signage controllers, version 1.

Topic tree (``<prefix>`` defaults to ``burgerhub``; the major version is part of every topic)::

    <prefix>/v1/signs/<region>/state    retained, QoS 1: every action active in the region, laid out
    <prefix>/v1/signs/<region>/events   not retained, QoS 1: one message per start, update or end
    <prefix>/v1/hub/status              retained, QoS 1: "online", or "offline" (also the last will)

A region with nothing active has no retained state: the hub clears it by publishing a zero-length
retained payload, which live subscribers also receive and must treat as "blank the sign".

Every JSON payload carries ``schema_version`` (``"1.<minor>"``). Minor versions only add optional
fields, so controllers must ignore fields they do not know. A breaking change moves to ``v2`` topics,
published beside ``v1`` for a transition period. The JSON Schemas live in ``schemas/signage/v1/``.

This module builds the payloads; it is pure (no I/O) and used by the channel and the reference
controller alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote

from hub.models import (
    ActionStatus,
    ActionType,
    ActionView,
    MessageKind,
    Result,
    action_from_dict,
    action_to_dict,
)

from . import layout

TOPIC_VERSION = "v1"
SCHEMA_VERSION = "1.0"
STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic tree under one prefix."""

    prefix: str = "burgerhub"

    @property
    def root(self) -> str:
        return f"{self.prefix}/{TOPIC_VERSION}"

    def state(self, region: str) -> str:
        return f"{self.root}/signs/{region}/state"

    def events(self, region: str) -> str:
        return f"{self.root}/signs/{region}/events"

    def region(self, region: str) -> str:
        """The filter a controller subscribes to for everything about its region."""
        return f"{self.root}/signs/{region}/#"

    @property
    def all_states(self) -> str:
        return f"{self.root}/signs/+/state"

    @property
    def status(self) -> str:
        return f"{self.root}/hub/status"

    def parse(self, topic: str) -> tuple[str, str] | None:
        """``(region, "state"|"events")`` for a sign topic, ``("", "status")`` for the status topic."""
        if topic == self.status:
            return "", "status"
        head = f"{self.root}/signs/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) == 2 and parts[1] in ("state", "events"):
            return parts[0], parts[1]
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """How one region's signs show text."""

    lines: int = 3
    width: int = 28
    language: str = "nl"
    uppercase: bool = False
    ticker_max: int = 280

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "width": self.width, "charset": "ascii", "uppercase": self.uppercase}


@dataclass(frozen=True, slots=True)
class SignText:
    """One message laid out for a sign: a screen, pages, a ticker line, and the paragraphs behind them."""

    short: list[str]
    long: list[list[str]]
    ticker: str
    paragraphs_short: list[str]
    paragraphs_long: list[str]


def lay_out(short_text: str, long_text: str, fmt: Layout) -> SignText:
    """Transliterate rendered text (one paragraph per line) and lay it out for ``fmt``."""
    short_p = _paragraphs(short_text, fmt.uppercase)
    long_p = _paragraphs(long_text, fmt.uppercase)
    return SignText(
        short=layout.fit(short_p, fmt.lines, fmt.width),
        long=layout.paginate(long_p, fmt.lines, fmt.width),
        ticker=layout.ticker(long_p, fmt.ticker_max),
        paragraphs_short=short_p,
        paragraphs_long=long_p,
    )


def _paragraphs(text: str, uppercase: bool) -> list[str]:
    out = (layout.sign_safe(line, uppercase=uppercase) for line in text.splitlines())
    return [p for p in out if p]


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return aware(value).astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def safe_url(url: str) -> str:
    """A URL in printable ASCII (non-ASCII characters percent-encoded), as the schema requires."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def action_block(action: ActionView, text: SignText, fmt: Layout, *, include_photo: bool) -> dict[str, Any]:
    """The ``actions[]`` item of a state payload (and the ``action`` of an event)."""
    photo = action.photos[0].url if include_photo and action.photos and action.status == ActionStatus.ACTIVE else None
    return {
        "id": action.id,
        "reference": action.reference,
        "type": ActionType(action.type).value,
        "version": action.version,
        "language": fmt.language,
        "started_at": iso(action.started_at),
        "expires_at": iso(action.expires_at),
        "short": text.short,
        "long": text.long,
        "ticker": text.ticker,
        "paragraphs": {"short": text.paragraphs_short, "long": text.paragraphs_long},
        "photo_url": safe_url(photo) if photo else None,
        "callback_number": layout.sign_safe(action.callback_number),
    }


def encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def state_payload(
    region: str, sequence: int, blocks: Sequence[Mapping[str, Any]], fmt: Layout, now: datetime
) -> bytes:
    """The retained state of a region; zero bytes (clear the retained message) when nothing is active."""
    if not blocks:
        return b""
    return encode(
        {
            "schema_version": SCHEMA_VERSION,
            "region": region,
            "sequence": sequence,
            "published_at": iso(now),
            "layout": fmt.as_dict(),
            "actions": list(blocks),
        }
    )


def event_payload(
    region: str,
    sequence: int,
    kind: MessageKind,
    block: Mapping[str, Any],
    result: Result | None,
    fmt: Layout,
    now: datetime,
) -> bytes:
    return encode(
        {
            "schema_version": SCHEMA_VERSION,
            "region": region,
            "sequence": sequence,
            "published_at": iso(now),
            "event": MessageKind(kind).value,
            "result": Result(result).value if result else None,
            "layout": fmt.as_dict(),
            "action": dict(block),
        }
    )


def status_payload(status: str, since: datetime | None = None) -> bytes:
    payload: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "status": status}
    if since is not None:
        payload["since"] = iso(since)
    return encode(payload)


# -- durable snapshots of actions, so a restarted hub can lay the state out again ---------------------


def action_to_record(action: ActionView) -> dict[str, Any]:
    return action_to_dict(action)


def action_from_record(data: Mapping[str, Any]) -> ActionView:
    return action_from_dict(data)  # also reads records written with ``area.kind`` by earlier versions


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def newest_first(actions: Iterable[ActionView]) -> list[ActionView]:
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(actions, key=lambda a: (aware(a.started_at) if a.started_at else epoch, a.id), reverse=True)
