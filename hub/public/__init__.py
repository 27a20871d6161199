"""The public overview: actions and their results for everyone, without personal data.

``/public/actions`` (a page), ``/public/actions/{id}`` (one action), ``/public/actions/{id}/cap`` (its
latest CAP message) and ``/public/feed.atom`` (an Atom feed of CAP messages). What shows is decided per
action type by a :class:`PublicPolicy` that the operator sets (``PUT /v1/public-policies/{type}``); a
missing person's description and photos, for instance, leave the page when the action ends.

Never public, whatever the policy: participants and how to reach them, tips, who at an organisation
started or ended an action, and the exact centre of an area (it may be someone's home): the page shows
the area's centre to about a kilometre and its size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from .. import schemas
from ..models import ActionType


@dataclass(frozen=True, slots=True)
class PublicPolicy:
    public: bool = True
    description: str = "while_active"
    photos: str = "never"
    result_text: bool = False
    keep_days: float = 7

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_POLICIES: Mapping[str, PublicPolicy] = {
    ActionType.MISSING_PERSON: PublicPolicy(description="while_active", photos="while_active", keep_days=7),
    ActionType.BURGLARY: PublicPolicy(),
    ActionType.ROBBERY: PublicPolicy(),
    ActionType.HIT_AND_RUN: PublicPolicy(),
    ActionType.SHOPLIFTING: PublicPolicy(),
    ActionType.SUSPICIOUS_VEHICLE: PublicPolicy(),
    ActionType.CRISIS: PublicPolicy(description="always", result_text=True, keep_days=30),
    ActionType.NEIGHBOURHOOD_INQUIRY: PublicPolicy(description="while_active", keep_days=14),
    ActionType.PREVENTION: PublicPolicy(description="always", result_text=True, keep_days=30),
}
"""What shows when the operator has set nothing for a type."""


def policy_from_dict(data: Mapping[str, Any], base: PublicPolicy | None = None) -> PublicPolicy:
    """A policy from (part of) its JSON; keys left out keep ``base``'s values. Raises ValidationError."""
    schemas.validate("public-policy", data)
    return replace(base or PublicPolicy(), **data)


def policies(stored: Mapping[str, Mapping[str, Any]]) -> dict[str, PublicPolicy]:
    """Every type's policy: the stored one over the default."""
    out = {}
    for kind in ActionType:
        base = DEFAULT_POLICIES.get(kind, PublicPolicy())
        out[kind.value] = replace(base, **stored[kind.value]) if kind.value in stored else base
    return out


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def public_view(action: Mapping[str, Any], policy: PublicPolicy, now: datetime | None = None) -> dict[str, Any] | None:
    """What the public may see of ``action`` now, or ``None`` when it is not (or no longer) public."""
    now = now or datetime.now(timezone.utc)
    if not policy.public:
        return None
    active = action["status"] == "active"
    ended_at = _when(action.get("ended_at"))
    if not active and ended_at is not None and now - ended_at > timedelta(days=policy.keep_days):
        return None
    shows_text = policy.description == "always" or (policy.description == "while_active" and active)
    area = action["area"]
    if area["type"] == "circle":
        place = {"lat": round(area["lat"], 2), "lon": round(area["lon"], 2), "radius_m": round(area["radius_m"], -2)}
    else:
        lats = [p[0] for p in area["points"]]
        lons = [p[1] for p in area["points"]]
        place = {"lat": round(sum(lats) / len(lats), 2), "lon": round(sum(lons) / len(lons), 2),
                 "span_km": round(max(max(lats) - min(lats), max(lons) - min(lons)) * 111, 1)}
    view: dict[str, Any] = {
        "id": action["id"],
        "type": action["type"],
        "urgency": action["urgency"],
        "status": action["status"],
        "region": action.get("region"),
        "organisation": action.get("organisation") or "national",
        "started_at": action["started_at"],
        "updated_at": action.get("updated_at") or action["started_at"],
        "ended_at": action.get("ended_at"),
        "result": action.get("result"),
        "result_text": action.get("result_text") if policy.result_text else None,
        "place": place,
        "title": (action.get("title") or "") if shows_text else "",
        "description": action["description"] if shows_text else None,
        "translations": (action.get("translations") or {}) if shows_text else {},
        "photos": [p["url"] for p in action.get("photos", ())] if policy.photos == "while_active" and active else [],
        "version": action["version"],
        "history": [{"version": h["version"], "at": h["at"]} for h in action.get("history", ())],
    }
    return view
