"""Sign regions: the areas signage controllers subscribe to, and which of them an action's area meets.

A region is configured by id (a topic level such as ``utrecht`` or ``gemeente-zeist``), optionally with
a centre and radius. An action reaches every region whose circle meets the action's area, plus the
region the dispatcher set on the action. Distances use a local flat projection around the region's
centre, which is accurate to well under a percent at the scale of a municipality or province.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any, Iterable, Mapping

from hub.models import Area, Circle, Polygon

from .layout import sign_safe

EARTH_RADIUS_M = 6_371_008.8
#: a region id is one MQTT topic level: no ``/``, ``+``, ``#``, no ``$`` prefix, lower-case
REGION_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def region_id(value: str) -> str | None:
    """``value`` as a region id (``"Súdwest-Fryslân"`` -> ``"sudwest-fryslan"``), or ``None`` if nothing is left."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", sign_safe(value).lower()).strip("-_")[:64]
    return slug if REGION_ID.match(slug) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    id: str
    name: str | None = None
    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None
    language: str | None = None
    lines: int | None = None
    width: int | None = None

    @classmethod
    def from_settings(cls, value: Mapping[str, Any] | str) -> "Region":
        if isinstance(value, str):
            return cls(id=value)
        return cls(**{f.name: value[f.name] for f in fields(cls) if f.name in value})

    @property
    def has_area(self) -> bool:
        return self.lat is not None and self.lon is not None and self.radius_m is not None

    def meets(self, area: Area) -> bool:
        """Whether this region's circle and ``area`` overlap (``False`` for a region without an area)."""
        if not self.has_area:
            return False
        if isinstance(area, Circle):
            return haversine_m(self.lat, self.lon, area.lat, area.lon) <= self.radius_m + area.radius_m
        if isinstance(area, Polygon):
            return _polygon_meets_circle(area.points, self.lat, self.lon, self.radius_m)
        return False


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _project(points: Iterable[tuple[float, float]], lat0: float, lon0: float) -> list[tuple[float, float]]:
    k = math.pi / 180 * EARTH_RADIUS_M
    c = math.cos(math.radians(lat0))
    return [((lon - lon0) * c * k, (lat - lat0) * k) for lat, lon in points]


def _segment_distance(ax: float, ay: float, bx: float, by: float) -> float:
    """Distance from the origin to the segment a-b."""
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
    return math.hypot(ax + t * dx, ay + t * dy)


def _polygon_meets_circle(points: tuple[tuple[float, float], ...], lat: float, lon: float, radius: float) -> bool:
    ring = _project(points, lat, lon)
    if not ring:
        return False
    inside = False
    for (ax, ay), (bx, by) in zip(ring, ring[1:] + ring[:1]):
        if _segment_distance(ax, ay, bx, by) <= radius:
            return True
        if (ay > 0) != (by > 0) and 0 < ax + (0 - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside  # the centre lies inside the polygon, away from its edges
