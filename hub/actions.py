"""The action lifecycle: start, update, end; each one committed with its ledger rows in one transaction."""

from __future__ import annotations

import math
import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from .caps import WEEKLY_CAP, weekly_capped, without_capped
from .channel import AudienceKind
from .errors import Conflict, NotFound, ValidationError
from .geo import polygon_problem, radius_for
from .organisations import NATIONAL_ID, Organisation, check_area, check_issue, ensure_visible
from .models import (
    DEFAULT_DOMAIN,
    RESULTS_BY_TYPE,
    ActionEvent,
    ActionStatus,
    ActionType,
    ActionView,
    Circle,
    MessageKind,
    Polygon,
    Result,
    TransportMode,
    action_from_dict,
    area_to_dict,
)
from .routing import RouteFacts
from .schemas import validate
from .store import AuditEntry, DeliveryColumns, count_rows


@dataclass(frozen=True)
class Actor:
    """Who asked: a token's name and role (and, for participants, their id). ``organisation`` is the
    organisation a person's token belongs to; ``None`` is the national operator (static tokens, the
    command line, the hub itself)."""

    name: str
    role: str
    participant_id: str | None = None
    organisation: Organisation | None = None

    @property
    def organisation_id(self) -> str:
        return self.organisation.id if self.organisation else NATIONAL_ID


SYSTEM = Actor("burgerhub", "system")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def new_action_id() -> str:
    return "act-" + secrets.token_hex(6)


def area_from_dict(data: Mapping[str, Any], radius_table: Mapping[str, float] | None = None) -> Circle | Polygon:
    """The area of a validated action payload; refuses what the schema cannot: numbers that are not
    finite, and polygons that cross themselves or have no area."""
    numbers = [data.get(k) for k in ("lat", "lon", "radius_m") if data.get(k) is not None]
    numbers += [v for p in data.get("points") or () for v in p]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers):
        raise ValidationError("area", "coordinates and radius must be finite numbers")
    if data["type"] == "polygon":
        problem = polygon_problem(data["points"])
        if problem:
            raise ValidationError("area.points", f"the polygon {problem}")
    if data["type"] == "circle":
        transport = TransportMode(data["transport"]) if data.get("transport") else None
        radius = data.get("radius_m") or radius_for(transport, radius_table)
        return Circle(lat=data["lat"], lon=data["lon"], radius_m=float(radius), transport=transport)
    return Polygon(points=tuple((float(p[0]), float(p[1])) for p in data["points"]))


def to_view(data: Mapping[str, Any]) -> ActionView:
    """The plugin-facing view of a stored action."""
    return action_from_dict(data)


class ActionService:
    """Starts, updates and ends actions. Pure decisions (routing, audience) live in their own modules."""

    def __init__(self, hub) -> None:
        self.hub = hub

    # -- helpers ---------------------------------------------------------------------------
    def _absolute(self, url: str) -> str:
        return self.hub.config.public_url.rstrip("/") + url if url.startswith("/") else url

    def _page_url(self, action_id: str) -> str | None:
        """The public page about an action, when ``[hub] action_page_url`` is set."""
        base = self.hub.config.action_page_url
        return f"{base.rstrip('/')}/{action_id}" if base else None

    def _photos(self, items) -> list[dict[str, Any]]:
        return [{"url": self._absolute(p["url"]), **({"caption": p["caption"]} if p.get("caption") else {})} for p in items]

    async def _audience(
        self, view: ActionView, channels: tuple[str, ...], *, bypass_quiet_hours: bool, at: datetime | None = None
    ) -> tuple[list[DeliveryColumns], dict[str, Any]]:
        """Who each routed channel reaches now (one block of ledger rows per channel), and why others
        are skipped."""
        at = at or _now()
        rows: list[DeliveryColumns] = []
        summary: dict[str, Any] = {"channels": {}}
        if isinstance(view.area, Circle):
            summary["radius_m"] = view.area.radius_m
            if view.area.transport:
                summary["transport"] = view.area.transport.value
        participant_channels = {}
        for name in channels:
            rt = self.hub.runtimes.get(name)
            if rt is None:
                reason = self.hub.unavailable.get(name, "not installed")
                summary["channels"][name] = {"targeted": 0, "unavailable": reason}
                continue
            if rt.channel.audience is AudienceKind.OWN:
                recipients = await rt.channel.resolve_audience(view)
                rows.append(DeliveryColumns(name, [r.address for r in recipients],
                                            [r.participant_id for r in recipients], [r.language for r in recipients]))
                summary["channels"][name] = {"targeted": len(recipients), "skipped": {}, "sandbox": rt.sandbox}
            else:
                participant_channels[name] = rt.channel.contact
        if participant_channels:
            # whatever another process (another hub, the command line) changed has been committed
            # before this request: the index applies it first (one cheap read when nothing changed)
            await self.hub.registry.catch_up()
            selection = self.hub.audience.select(
                view.area, participant_channels, at, bypass_quiet_hours=bypass_quiet_hours
            )
            summary["in_area"] = selection.in_area
            capped = await weekly_capped(self.hub.store)
            for name in participant_channels:
                recipients = selection.recipients(name)
                if hasattr(recipients, "columns"):
                    pids, addresses, languages = recipients.columns()
                else:
                    pids, addresses, languages = ([m[i] for m in recipients] for i in range(3))
                skipped = dict(selection.skipped(name))
                block, over = without_capped(DeliveryColumns(name, addresses, pids, languages), capped)
                if over:
                    skipped[WEEKLY_CAP] = over
                rows.append(block)
                summary["channels"][name] = {
                    "targeted": len(block),
                    "skipped": skipped,
                    "sandbox": self.hub.runtimes[name].sandbox,
                }
        return rows, summary

    def _route(self, data: Mapping[str, Any]):
        return self.hub.rules.current.route(
            RouteFacts(type=data["type"], urgency=data["urgency"], region=data.get("region"), domain=data.get("domain"))
        )

    def _notify(self, kind: MessageKind, data: Mapping[str, Any], actor: Actor, channels, targeted: int) -> None:
        event = ActionEvent(kind=kind, action=to_view(data), actor=actor.name, channels=tuple(channels), targeted=targeted)
        self.hub.call_observers(event)

    async def _load(self, action_id: str) -> dict[str, Any]:
        data = await self.hub.store.get_action(action_id)
        if data is None:
            raise NotFound(f"action {action_id!r} not found")
        return data

    # -- lifecycle -------------------------------------------------------------------------
    def prepare(self, payload: Mapping[str, Any], actor: Actor) -> dict[str, Any]:
        """Validate a start request and build the action record (nothing is stored)."""
        validate("action.start", payload)
        now = _now()
        area = area_from_dict(payload["area"], self.hub.config.transport_radius_m)
        action_type = ActionType(payload["type"])
        if actor.organisation is not None:
            check_issue(actor.organisation, action_type.value, payload["urgency"])
        subject = payload.get("subject") or ("person" if action_type is ActionType.MISSING_PERSON else "none")
        ttl = payload.get("expires_in_minutes", int(self.hub.config.action_ttl_hours * 60))
        action_id = payload.get("id") or new_action_id()
        return {
            "id": action_id,
            "type": action_type.value,
            "urgency": payload["urgency"],
            "domain": payload.get("domain") or DEFAULT_DOMAIN[action_type].value,
            "region": payload.get("region"),
            "title": payload.get("title", ""),
            "description": payload["description"].strip(),
            **({"translations": payload["translations"]} if payload.get("translations") else {}),
            "subject": subject,
            "area": area_to_dict(area),
            "photos": self._photos(payload.get("photos", [])),
            "callback_number": payload.get("callback_number", self.hub.config.callback_number),
            "status": ActionStatus.ACTIVE.value,
            "result": None,
            "result_text": None,
            "version": 1,
            "started_at": now.isoformat(),
            "updated_at": now.isoformat(),
            "ended_at": None,
            "expires_at": (now + timedelta(minutes=ttl)).isoformat(),
            "started_by": actor.name,
            "safety_advice": (payload.get("safety_advice") or "").strip() or None,
            "nl_alert": bool(payload.get("nl_alert", False)),
            "page_url": self._page_url(action_id),
            "organisation": actor.organisation_id,
        }

    @staticmethod
    async def _within_territory(actor: Actor, area: Mapping[str, Any]) -> None:
        """Refuse an area outside the actor's organisation's territory (the test runs off the loop)."""
        if actor.organisation is not None and not actor.organisation.national:
            await asyncio.to_thread(check_area, actor.organisation, area_from_dict(area))

    async def plan(self, payload: Mapping[str, Any], actor: Actor, *, at: datetime | None = None) -> dict[str, Any]:
        """A dry run of :meth:`start`: route, channels and recipients per channel; nothing is sent."""
        data = self.prepare(payload, actor)
        await self._within_territory(actor, data["area"])
        decision = self._route(data)
        _, summary = await self._audience(
            to_view(data), decision.channels, bypass_quiet_hours=decision.bypass_quiet_hours, at=at
        )
        return {"route": decision.to_dict(), "audience": summary}

    async def start(self, payload: Mapping[str, Any], actor: Actor) -> dict[str, Any]:
        data = self.prepare(payload, actor)
        await self._within_territory(actor, data["area"])
        decision = self._route(data)
        rows, summary = await self._audience(
            to_view(data), decision.channels, bypass_quiet_hours=decision.bypass_quiet_hours
        )
        data["route"] = {"routes": list(decision.routes), "channels": list(decision.channels),
                         "bypass_quiet_hours": decision.bypass_quiet_hours}
        data["audience"] = summary
        targeted = count_rows(rows)
        audit = AuditEntry(actor.name, actor.role, "action.start", data["id"],
                           {"type": data["type"], "urgency": data["urgency"], "targeted": targeted,
                            "channels": list(decision.channels), "organisation": data["organisation"]})
        await self.hub.store.create_action(data, rows, audit)
        self.hub.engine.remember(to_view(data))
        self.hub.engine.wake(decision.channels)
        self._notify(MessageKind.START, data, actor, decision.channels, targeted)
        return data

    async def update(self, action_id: str, payload: Mapping[str, Any], actor: Actor) -> dict[str, Any]:
        validate("action.update", payload)
        data = await self._load(action_id)
        ensure_visible(actor.organisation, data)
        if data["status"] != ActionStatus.ACTIVE:
            raise Conflict(f"action {action_id!r} has ended and can no longer be updated")
        changes = [k for k in ("title", "description", "subject", "safety_advice", "nl_alert", "translations")
                   if k in payload and payload[k] != data.get(k)]
        new = dict(data)
        for key in changes:
            new[key] = payload[key].strip() if isinstance(payload[key], str) else payload[key]
        if payload.get("add_photos"):
            new["photos"] = list(data.get("photos", [])) + self._photos(payload["add_photos"])
            changes.append("photos")
        if "expires_in_minutes" in payload:
            new["expires_at"] = (_now() + timedelta(minutes=payload["expires_in_minutes"])).isoformat()
            changes.append("expires_at")
        rows: list[DeliveryColumns] = []
        if "area" in payload:
            area = area_from_dict(payload["area"], self.hub.config.transport_radius_m)
            await self._within_territory(actor, area_to_dict(area))
            new["area"] = area_to_dict(area)
            changes.append("area")
        new["version"] = data["version"] + 1
        new["updated_at"] = _now().isoformat()
        channels = tuple(data["route"]["channels"])
        if "area" in changes:
            # the newly covered get the start; those already reached are never started twice (unique key)
            candidates, summary = await self._audience(
                to_view(new), channels, bypass_quiet_hours=data["route"].get("bypass_quiet_hours", False)
            )
            reached = await self.hub.store.reached_addresses(action_id)
            rows = [block.without(reached.get(block.channel, ())) for block in candidates]
            summary["newly_reached"] = count_rows(rows)
            new["audience"] = summary
        new.setdefault("history", [])
        new["history"] = list(new["history"]) + [{"version": new["version"], "at": new["updated_at"],
                                                  "by": actor.name, "changes": changes}]
        notify = payload.get("notify", True) and any(c not in ("area", "expires_at") for c in changes)
        audit = AuditEntry(actor.name, actor.role, "action.update", action_id,
                           {"changes": changes, "newly_reached": count_rows(rows)})
        starts, updates = await self.hub.store.update_action(new, rows, audit, notify_reached=bool(notify))
        self.hub.engine.remember(to_view(new))
        self.hub.engine.wake(channels)
        self._notify(MessageKind.UPDATE, new, actor, channels, starts + updates)
        return {**new, "queued": {"start": starts, "update": updates}}

    async def end(
        self, action_id: str, payload: Mapping[str, Any], actor: Actor, *, reason: str | None = None
    ) -> dict[str, Any]:
        """End an action with a result that fits its type (:data:`~hub.models.RESULTS_BY_TYPE`).

        ``reason`` says why when nobody ended it (``"expired"``): it is kept on the action and in the audit.
        """
        validate("action.end", payload)
        data = await self._load(action_id)
        ensure_visible(actor.organisation, data)
        if data["status"] != ActionStatus.ACTIVE:
            raise Conflict(f"action {action_id!r} has already ended")
        fitting = RESULTS_BY_TYPE[ActionType(data["type"])]
        if Result(payload["result"]) not in fitting:
            raise ValidationError(
                "result", f"{payload['result']!r} does not fit a {data['type']} action "
                f"(one of: {', '.join(r.value for r in fitting)})")
        now = _now().isoformat()
        new = {**data, "status": ActionStatus.ENDED.value, "result": payload["result"],
               "result_text": payload.get("text"), "ended_at": now, "updated_at": now,
               "version": data["version"] + 1, "ended_by": actor.name,
               "solved_by_participants": bool(payload.get("solved_by_participants", False))}
        detail: dict[str, Any] = {"result": payload["result"], "solved_by_participants": new["solved_by_participants"]}
        if reason:
            new["end_reason"] = reason
            detail.update(reason=reason, expires_at=data.get("expires_at"))
        audit = AuditEntry(actor.name, actor.role, "action.end", action_id, detail)
        closing = await self.hub.store.end_action(new, audit)
        self.hub.engine.remember(to_view(new))
        channels = tuple(data["route"]["channels"])
        self.hub.engine.wake(channels)
        self._notify(MessageKind.END, new, actor, channels, closing)
        return {**new, "queued": {"end": closing}}

    async def get(self, action_id: str, actor: Actor | None = None) -> dict[str, Any]:
        """The action with its live counts; with ``actor``, only if the actor's organisation may see it."""
        data = await self._load(action_id)
        if actor is not None:
            ensure_visible(actor.organisation, data)
        data["counts"] = await self.hub.store.action_counts(action_id)
        return data
