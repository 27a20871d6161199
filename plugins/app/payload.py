"""The JSON document an app install receives in a push message (pure functions, no I/O).

The app decides on the device whether its own location lies inside ``area``; so the area is sent in
full. A push message holds at most about 4 kB, so a payload that is too large is made smaller in steps
that never shrink the area (the app errs towards alerting): a polygon is replaced by its convex hull,
then by its bounding box; then extra photos are dropped; at last the text is shortened.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from hub.models import Area, Circle, Notice, Polygon

from .push import MAX_PLAINTEXT

#: the version of the payload layout; the app ignores versions it does not know
PAYLOAD_VERSION = 1
_DECIMALS = 5  # about a metre


def area_json(area: Area) -> dict[str, Any]:
    if isinstance(area, Circle):
        return {
            "type": "circle",
            "lat": round(area.lat, _DECIMALS),
            "lon": round(area.lon, _DECIMALS),
            "radius_m": round(area.radius_m, 1),
        }
    if isinstance(area, Polygon):
        return {"type": "polygon", "points": [[round(a, _DECIMALS), round(b, _DECIMALS)] for a, b in area.points]}
    raise TypeError(f"unknown area type {type(area).__name__}")


def build_payload(notice: Notice, *, title: str, text: str, tip_url: str | None) -> dict[str, Any]:
    action = notice.action
    return {
        "v": PAYLOAD_VERSION,
        "action": action.id,
        "ref": action.reference,
        "kind": str(notice.kind),
        "type": str(action.type),
        "urgency": str(action.urgency),
        "version": action.version,
        "title": title,
        "text": text,
        "area": area_json(action.area),
        "photos": [p.url for p in action.photos],
        "callback": action.callback_number,
        "expires": action.expires_at.isoformat() if action.expires_at else None,
        "result": str(action.result) if action.result else None,
        "tip_url": tip_url,
    }


def confirmation_id(notice: Notice, install_id: str) -> str:
    """How an install names a message it received: from its payload (``action``, ``kind``, ``version``)
    and its own id, which only it and the hub know (so nobody else can confirm for it)."""
    return f"{notice.action.id}/{notice.kind}/{notice.action.version}/{install_id}"


def encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def fit(payload: dict[str, Any], limit: int = MAX_PLAINTEXT) -> bytes:
    """The encoded payload, made small enough for one push message (see the module docs)."""
    data = encode(payload)
    if len(data) <= limit:
        return data
    payload = dict(payload)
    if payload["area"]["type"] == "polygon":
        for smaller in (_hull, _box):
            payload["area"] = {"type": "polygon", "points": smaller(payload["area"]["points"]), "approximate": True}
            data = encode(payload)
            if len(data) <= limit:
                return data
    if len(payload["photos"]) > 1:
        payload["photos"] = payload["photos"][:1]
        data = encode(payload)
        if len(data) <= limit:
            return data
    excess = len(data) - limit
    text = payload["text"]
    while excess > 0 and text:
        # Cut by characters until the UTF-8 length fits; one step per pass keeps multi-byte text right.
        text = text[: max(0, len(text) - excess)]
        payload["text"] = text.rstrip() + "…"
        data = encode(payload)
        excess = len(data) - limit
    if len(data) > limit:
        raise ValueError(f"push payload cannot be made smaller than {len(data)} bytes")
    return data


def _box(points: list[list[float]]) -> list[list[float]]:
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    s, n, w, e = min(lats), max(lats), min(lons), max(lons)
    return [[s, w], [s, e], [n, e], [n, w]]


def _hull(points: list[list[float]]) -> list[list[float]]:
    """Convex hull (Andrew's monotone chain) of (lat, lon) points; a superset of the polygon."""
    pts = sorted({(p[0], p[1]) for p in points})
    if len(pts) <= 3:
        return [list(p) for p in pts]

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return [list(p) for p in lower[:-1] + upper[:-1]]
