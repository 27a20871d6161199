"""Does a subscriber's circle meet an action's area? Circle-circle and circle-polygon on the sphere.

Distances are haversine metres. For a polygon the subscriber's circle meets it when its centre lies
inside, or an edge passes within the radius; edges are measured in a local flat projection around the
subscriber, exact enough for areas the size of a region.
"""

from __future__ import annotations

import math

from hub.models import Area, Circle, Polygon

EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def point_in_polygon(lat: float, lon: float, points: tuple[tuple[float, float], ...]) -> bool:
    inside = False
    n = len(points)
    for i in range(n):
        (lat1, lon1), (lat2, lon2) = points[i], points[(i + 1) % n]
        if (lat1 > lat) != (lat2 > lat):
            cross = lon1 + (lat - lat1) * (lon2 - lon1) / (lat2 - lat1)
            if lon < cross:
                inside = not inside
    return inside


def _distance_to_segment(ax: float, ay: float, bx: float, by: float) -> float:
    """Distance from the origin to the segment a-b (flat metres)."""
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
    return math.hypot(ax + t * dx, ay + t * dy)


def circle_meets_area(lat: float, lon: float, radius_m: float, area: Area) -> bool:
    if isinstance(area, Circle):
        return haversine_m(lat, lon, area.lat, area.lon) <= radius_m + area.radius_m
    if isinstance(area, Polygon):
        points = area.points
        if len(points) < 3:
            return False
        if point_in_polygon(lat, lon, points):
            return True
        kx = _M_PER_DEG * math.cos(math.radians(lat))
        flat = [((plon - lon) * kx, (plat - lat) * _M_PER_DEG) for plat, plon in points]
        return any(
            _distance_to_segment(*flat[i], *flat[(i + 1) % len(flat)]) <= radius_m for i in range(len(flat))
        )
    raise TypeError(f"unknown area {area!r}")
