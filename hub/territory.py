"""Whether an action's area stays within an organisation's territory (a union of circles and polygons).

The test samples the area's outline (a circle's circumference, a polygon's edges) at most
:data:`STEP_M` apart, plus its centre, and asks whether every sample lies in some part of the
territory. For a territory of one convex or concave polygon, or of overlapping parts, an outline that
stays inside means the whole area does. Two limits, both on the side of refusing less: an area whose
outline runs inside the territory but encloses a gap between two territory parts is accepted, and an
excursion narrower than the sampling step may pass unseen. Territories are drawn with margins (a
municipality's area, a control room's regions), so neither matters in practice; the step is small
against any action's area.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .geo import EARTH_RADIUS_M, contains_np, destination
from .models import Area, Circle

STEP_M = 100.0
"""Largest distance between two sampled points of an area's outline."""

MAX_SAMPLES = 4096


def outline_points(area: Area, step_m: float = STEP_M) -> tuple[np.ndarray, np.ndarray]:
    """Points on the area's outline, at most ``step_m`` apart (fewer for huge areas), plus its centre."""
    if isinstance(area, Circle):
        n = int(min(MAX_SAMPLES, max(16, math.ceil(2 * math.pi * area.radius_m / step_m))))
        pts = [destination(area.lat, area.lon, area.radius_m, 360.0 * i / n) for i in range(n)]
        pts.append((area.lat, area.lon))
        arr = np.asarray(pts, dtype=np.float64)
        return arr[:, 0], arr[:, 1]
    ring = list(area.points)
    if ring[0] == ring[-1]:
        ring = ring[:-1]
    lats: list[np.ndarray] = []
    lons: list[np.ndarray] = []
    per_degree = math.pi * EARTH_RADIUS_M / 180.0
    budget = max(1, MAX_SAMPLES // max(1, len(ring)))
    for i, (lat1, lon1) in enumerate(ring):
        lat2, lon2 = ring[(i + 1) % len(ring)]
        length = math.hypot((lat2 - lat1) * per_degree, (lon2 - lon1) * per_degree * math.cos(math.radians(lat1)))
        n = int(min(budget, max(1, math.ceil(length / step_m))))
        t = np.arange(n, dtype=np.float64) / n
        lats.append(lat1 + (lat2 - lat1) * t)
        lons.append(lon1 + (lon2 - lon1) * t)
    return np.concatenate(lats), np.concatenate(lons)


def first_point_outside(area: Area, territory: Sequence[Area]) -> tuple[float, float] | None:
    """A point of ``area`` outside every part of ``territory``, or ``None`` when the area stays within it."""
    lats, lons = outline_points(area)
    inside = np.zeros(lats.shape, dtype=bool)
    for part in territory:
        inside |= contains_np(part, lats, lons)
        if inside.all():
            return None
    i = int(np.flatnonzero(~inside)[0])
    return float(lats[i]), float(lons[i])
