"""Geometry on the earth for action areas: distances, containment, bounding boxes, grid cells.

Areas are :class:`~hub.models.Circle` and :class:`~hub.models.Polygon` values. Every function here is
pure and has a scalar form and, where it matters for audience selection, a numpy form over arrays of
points.

Conventions:

* Coordinates are WGS84 degrees, ``lat`` before ``lon`` everywhere (also in polygon vertices).
* Distances are metres on a sphere of the mean earth radius (haversine). Within a country the error
  against the ellipsoid is below 0.5 %, far less than the uncertainty of any action's area.
* Polygons are treated as planar in (lon, lat), which is exact enough for areas the size of a province;
  they must not cross the antimeridian or enclose a pole.
* Areas are never clipped at national borders: a circle around an incident near the border reaches
  every registered participant inside it, on either side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Mapping

import numpy as np

from .models import Area, Circle, Polygon, TransportMode

EARTH_RADIUS_M = 6_371_008.8
"""Mean earth radius (IUGG), metres."""

METRES_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_M / 180.0

DEFAULT_RADIUS_M: Mapping[TransportMode, float] = {
    TransportMode.ON_FOOT: 1_000.0,
    TransportMode.BICYCLE: 2_500.0,
    TransportMode.SCOOTER: 4_000.0,
    TransportMode.CAR: 7_500.0,
}
"""Default action radius per mode of transport of the person or vehicle looked for.

An action's first message goes out some 10-15 minutes after the incident (report, officers sent,
description taken, action started). The radius is roughly how far the subject gets in that time, at
speeds typical for built-up areas:

* on foot, ~5 km/h for 12 minutes: **1,000 m**;
* bicycle, ~15 km/h for 10 minutes: **2,500 m**;
* scooter or moped (25-45 km/h, limited in town), ~25 km/h for 10 minutes: **4,000 m**;
* car, ~45 km/h average in and around town for 10 minutes: **7,500 m**.

A larger circle reaches more people but also more people who cannot have seen the subject; the
dispatcher can always draw the area by hand. Operators override these in ``transport_radius_m``.
"""


@dataclass(frozen=True, slots=True)
class BBox:
    """A lat/lon bounding box, inclusive on every side."""

    min_lat: float
    min_lon: float
    max_lat: float
    max_lon: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon

    def intersects(self, other: "BBox") -> bool:
        return not (
            other.min_lat > self.max_lat
            or other.max_lat < self.min_lat
            or other.min_lon > self.max_lon
            or other.max_lon < self.min_lon
        )


# -- distances -----------------------------------------------------------------------------------


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def haversine_np(lats: np.ndarray, lons: np.ndarray, lat0: float, lon0: float) -> np.ndarray:
    """Distances in metres from arrays of points to one point (float64 result, broadcasting)."""
    la = np.radians(np.asarray(lats, dtype=np.float64))
    lo = np.radians(np.asarray(lons, dtype=np.float64))
    p0 = math.radians(lat0)
    h = np.sin((la - p0) * 0.5) ** 2 + math.cos(p0) * np.cos(la) * np.sin((lo - math.radians(lon0)) * 0.5) ** 2
    np.minimum(h, 1.0, out=h)
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(h))


def within_radius_np(lats: np.ndarray, lons: np.ndarray, lat0: float, lon0: float, radius_m: float) -> np.ndarray:
    """Boolean mask of the points within ``radius_m`` of (lat0, lon0), boundary included.

    Equals ``haversine_np(...) <= radius_m``. For speed, a flat (equirectangular) distance in the
    input's own precision settles every point clearly inside or outside; only points in a thin band
    around the circle, wider than the flat formula's worst error, get the exact haversine test.
    """
    lats = np.asarray(lats)
    lons = np.asarray(lons)
    if radius_m > 100_000 or abs(lat0) > 75 or lats.size < 64:
        return _within_radius_exact(lats, lons, lat0, lon0, radius_m)
    ky = METRES_PER_DEGREE_LAT
    kx = ky * math.cos(math.radians(lat0))
    dy = (lats - lat0) * ky
    dx = (lons - lon0) * kx
    d2 = dx * dx + dy * dy
    # flat error: the cos(lat) change across the circle (tan(lat) * r/R relative), curvature, and
    # float32 rounding of the coordinates (under a metre); doubled for safety
    angle = radius_m / EARTH_RADIUS_M
    slack = 2 * (radius_m * (math.tan(math.radians(abs(lat0)) + angle) * angle + 1e-3) + 2.0)
    inner = max(0.0, radius_m - slack) ** 2
    outer = (radius_m + slack) ** 2
    result = d2 <= inner
    band = np.flatnonzero((d2 > inner) & (d2 <= outer))
    if len(band):
        result[band] = _within_radius_exact(lats[band], lons[band], lat0, lon0, radius_m)
    return result


def _within_radius_exact(lats: np.ndarray, lons: np.ndarray, lat0: float, lon0: float, radius_m: float) -> np.ndarray:
    """Haversine terms compared instead of distances (no arcsin)."""
    la = np.radians(np.asarray(lats, dtype=np.float64))
    lo = np.radians(np.asarray(lons, dtype=np.float64))
    p0 = math.radians(lat0)
    h = np.sin((la - p0) * 0.5) ** 2 + math.cos(p0) * np.cos(la) * np.sin((lo - math.radians(lon0)) * 0.5) ** 2
    limit = math.sin(min(math.pi / 2, radius_m / (2 * EARTH_RADIUS_M))) ** 2
    return h <= limit


def destination(lat: float, lon: float, distance_m: float, bearing_deg: float) -> tuple[float, float]:
    """The point ``distance_m`` from (lat, lon) in the direction ``bearing_deg`` (0 = north, 90 = east)."""
    d = distance_m / EARTH_RADIUS_M
    b = math.radians(bearing_deg)
    p1 = math.radians(lat)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    dl = math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(math.radians(lon) + dl) + 540.0) % 360.0 - 180.0


# -- polygons ------------------------------------------------------------------------------------


def _ring(points: tuple[tuple[float, float], ...] | np.ndarray) -> np.ndarray:
    ring = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(ring) > 1 and ring[0, 0] == ring[-1, 0] and ring[0, 1] == ring[-1, 1]:
        ring = ring[:-1]  # an explicitly closed ring: drop the repeated vertex
    return ring


def points_in_polygon(lats: np.ndarray, lons: np.ndarray, points) -> np.ndarray:
    """Boolean mask of the points inside a polygon of (lat, lon) vertices (even-odd ray casting).

    Vectorised over the points; loops over the edges. Fewer than three vertices contain nothing.
    A point exactly on an edge may fall either way.
    """
    y = np.asarray(lats, dtype=np.float64)
    x = np.asarray(lons, dtype=np.float64)
    inside = np.zeros(np.broadcast(y, x).shape, dtype=bool)
    ring = _ring(points)
    n = len(ring)
    if n < 3 or inside.size == 0:
        return inside
    ys = ring[:, 0]
    xs = ring[:, 1]
    for i in range(n):
        j = i - 1  # previous vertex; i = 0 pairs with the last one
        yi, xi, yj, xj = ys[i], xs[i], ys[j], xs[j]
        if yi == yj:
            continue  # horizontal edges never cross a horizontal ray
        crosses = (yi > y) != (yj > y)
        if not crosses.any():
            continue
        x_at = xi + (y - yi) * ((xj - xi) / (yj - yi))
        inside ^= crosses & (x < x_at)
    return inside


def point_in_polygon(lat: float, lon: float, points) -> bool:
    """Whether one point lies inside a polygon (see :func:`points_in_polygon`)."""
    ring = _ring(points)
    n = len(ring)
    if n < 3:
        return False
    inside = False
    j = n - 1
    for i in range(n):
        yi, xi = ring[i]
        yj, xj = ring[j]
        if (yi > lat) != (yj > lat) and lon < xi + (lat - yi) * (xj - xi) / (yj - yi):
            inside = not inside
        j = i
    return inside


# -- areas ---------------------------------------------------------------------------------------


def contains(area: Area, lat: float, lon: float) -> bool:
    """Whether the point lies in the area (a circle includes its boundary)."""
    if isinstance(area, Circle):
        return haversine_m(area.lat, area.lon, lat, lon) <= area.radius_m
    return point_in_polygon(lat, lon, area.points)


def contains_np(area: Area, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Boolean mask of the points that lie in the area."""
    if isinstance(area, Circle):
        return within_radius_np(lats, lons, area.lat, area.lon, area.radius_m)
    return points_in_polygon(lats, lons, area.points)


def bbox_of_circle(circle: Circle) -> BBox:
    """The smallest lat/lon box around a circle (exact on the sphere; clamped at the poles)."""
    d = circle.radius_m / EARTH_RADIUS_M  # angular radius
    lat = math.radians(circle.lat)
    min_lat = math.degrees(lat - d)
    max_lat = math.degrees(lat + d)
    if max_lat >= 90 or min_lat <= -90:
        return BBox(max(min_lat, -90.0), -180.0, min(max_lat, 90.0), 180.0)
    dlon = math.degrees(math.asin(min(1.0, math.sin(d) / math.cos(lat))))
    return BBox(min_lat, circle.lon - dlon, max_lat, circle.lon + dlon)


def bbox_of_polygon(polygon: Polygon) -> BBox:
    """The lat/lon box around a polygon's vertices."""
    if not polygon.points:
        raise ValueError("a polygon needs vertices")
    lats = [p[0] for p in polygon.points]
    lons = [p[1] for p in polygon.points]
    return BBox(min(lats), min(lons), max(lats), max(lons))


def bbox_of(area: Area) -> BBox:
    """The lat/lon bounding box of a circle or polygon."""
    return bbox_of_circle(area) if isinstance(area, Circle) else bbox_of_polygon(area)


def center_of(area: Area) -> tuple[float, float]:
    """A representative point: a circle's centre, or a polygon's area centroid (vertex mean if degenerate)."""
    if isinstance(area, Circle):
        return area.lat, area.lon
    ring = _ring(area.points)
    y, x = ring[:, 0], ring[:, 1]
    y2, x2 = np.roll(y, -1), np.roll(x, -1)
    cross = x * y2 - x2 * y
    a = cross.sum() / 2
    if abs(a) < 1e-12:
        return float(y.mean()), float(x.mean())
    return float(((y + y2) * cross).sum() / (6 * a)), float(((x + x2) * cross).sum() / (6 * a))


def radius_for(mode: TransportMode | str, table: Mapping[str, float] | None = None) -> float:
    """The action radius in metres for a mode of transport.

    ``table`` (e.g. the operator's ``transport_radius_m`` setting, keyed by mode name) overrides the
    defaults in :data:`DEFAULT_RADIUS_M` for the modes it names. Unknown modes raise ``ValueError``.
    """
    mode = TransportMode(mode)
    if table:
        value = table.get(mode.value, table.get(mode))  # type: ignore[call-overload]
        if value is not None:
            if not value > 0:
                raise ValueError(f"radius for {mode.value} must be > 0, got {value!r}")
            return float(value)
    return DEFAULT_RADIUS_M[mode]


def circle_for(
    lat: float, lon: float, mode: TransportMode | str, table: Mapping[str, float] | None = None
) -> Circle:
    """A circle around an incident whose radius follows from the subject's mode of transport."""
    mode = TransportMode(mode)
    return Circle(lat=lat, lon=lon, radius_m=radius_for(mode, table), transport=mode)


# -- intersections -------------------------------------------------------------------------------


def _project(lat0: float, lon0: float, points: np.ndarray) -> np.ndarray:
    """Local equirectangular projection around (lat0, lon0): metres east (x) and north (y)."""
    k = METRES_PER_DEGREE_LAT
    x = (points[:, 1] - lon0) * k * math.cos(math.radians(lat0))
    y = (points[:, 0] - lat0) * k
    return np.column_stack((x, y))


def _segment_distances(px: float, py: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances from point (px, py) to the segments a[i]-b[i] in the plane."""
    ab = b - a
    ap = np.array([px, py]) - a
    denom = (ab * ab).sum(axis=1)
    t = np.where(denom > 0, (ap * ab).sum(axis=1) / np.where(denom > 0, denom, 1.0), 0.0)
    t = np.clip(t, 0.0, 1.0)
    closest = a + ab * t[:, None]
    return np.hypot(closest[:, 0] - px, closest[:, 1] - py)


def circles_intersect(a: Circle, b: Circle) -> bool:
    """Whether two circles share at least one point."""
    return haversine_m(a.lat, a.lon, b.lat, b.lon) <= a.radius_m + b.radius_m


def circle_intersects_polygon(circle: Circle, polygon: Polygon) -> bool:
    """Whether a circle and a polygon share a point.

    Exact up to a local flat projection around the circle's centre (metres of error for areas the
    size of a province): true if the centre is inside the polygon or some edge comes within the radius.
    """
    ring = _ring(polygon.points)
    if len(ring) < 3:
        return False
    if not bbox_of_circle(circle).intersects(bbox_of_polygon(polygon)):
        return False
    if point_in_polygon(circle.lat, circle.lon, ring):
        return True
    xy = _project(circle.lat, circle.lon, ring)
    dist = _segment_distances(0.0, 0.0, xy, np.roll(xy, -1, axis=0))
    return bool((dist <= circle.radius_m).any())


def _segments_cross(a1: np.ndarray, a2: np.ndarray, b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """For every pair (segment i of a, segment j of b): do they properly intersect (or touch)?"""

    def orient(p, q, r):
        return (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])

    A1, A2 = a1[:, None, :], a2[:, None, :]
    B1, B2 = b1[None, :, :], b2[None, :, :]
    d1 = orient(B1, B2, A1)
    d2 = orient(B1, B2, A2)
    d3 = orient(A1, A2, B1)
    d4 = orient(A1, A2, B2)
    return (((d1 > 0) != (d2 > 0)) | (d1 == 0) | (d2 == 0)) & (((d3 > 0) != (d4 > 0)) | (d3 == 0) | (d4 == 0))


def polygon_problem(points) -> str | None:
    """Why ``points`` (lat, lon vertices; the ring may repeat its first point at the end) is not a simple
    polygon, or ``None``: fewer than 3 distinct vertices, a vertex repeated, no area, or two edges that
    cross or touch other than where neighbours meet (a self-intersecting "bow tie" has no clear inside)."""
    ring = [tuple(map(float, p)) for p in points]
    if len(ring) > 3 and ring[0] == ring[-1]:
        ring = ring[:-1]
    if len(ring) < 3:
        return "needs at least 3 distinct points"
    if len(set(ring)) != len(ring):
        return "repeats a point"
    xy = np.asarray([(lon, lat) for lat, lon in ring], dtype=float)
    x, y = xy[:, 0], xy[:, 1]
    a1, a2 = xy, np.roll(xy, -1, axis=0)
    crossing = _segments_cross(a1, a2, a1, a2)
    n = len(ring)
    i, j = np.triu_indices(n, k=2)
    neighbours = (i == 0) & (j == n - 1)  # the last edge meets the first at vertex 0
    hits = crossing[i, j] & ~neighbours
    if hits.any():
        k = int(np.argmax(hits))
        return f"crosses itself (edge {int(i[k]) + 1} meets edge {int(j[k]) + 1})"
    if abs(float((x * np.roll(y, -1) - np.roll(x, -1) * y).sum())) < 1e-18:
        return "has no area (its points lie on one line)"
    return None


def polygons_intersect(a: Polygon, b: Polygon) -> bool:
    """Whether two polygons share a point (edges cross, or one contains the other)."""
    ra, rb = _ring(a.points), _ring(b.points)
    if len(ra) < 3 or len(rb) < 3:
        return False
    if not bbox_of_polygon(a).intersects(bbox_of_polygon(b)):
        return False
    if point_in_polygon(ra[0, 0], ra[0, 1], rb) or point_in_polygon(rb[0, 0], rb[0, 1], ra):
        return True
    cross = _segments_cross(ra, np.roll(ra, -1, axis=0), rb, np.roll(rb, -1, axis=0))
    return bool(cross.any())


def areas_intersect(a: Area, b: Area) -> bool:
    """Whether two areas (circles or polygons, any mix) share a point."""
    if isinstance(a, Circle) and isinstance(b, Circle):
        return circles_intersect(a, b)
    if isinstance(a, Circle):
        return circle_intersects_polygon(a, b)
    if isinstance(b, Circle):
        return circle_intersects_polygon(b, a)
    return polygons_intersect(a, b)


# -- grid cells ----------------------------------------------------------------------------------

DEFAULT_CELL_DEG = 0.02
"""Grid cell size in degrees: about 2.2 km north-south and 1.4 km east-west in the Netherlands."""


def cell_of(lat: float, lon: float, cell_deg: float = DEFAULT_CELL_DEG) -> tuple[int, int]:
    """The (row, column) of the grid cell holding a point; rows count from the south pole, columns from -180°."""
    return int(math.floor((lat + 90.0) / cell_deg)), int(math.floor((lon + 180.0) / cell_deg))


def cells_np(lats: np.ndarray, lons: np.ndarray, cell_deg: float = DEFAULT_CELL_DEG) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns (int64) of the grid cells holding arrays of points."""
    rows = np.floor((np.asarray(lats, dtype=np.float64) + 90.0) / cell_deg).astype(np.int64)
    cols = np.floor((np.asarray(lons, dtype=np.float64) + 180.0) / cell_deg).astype(np.int64)
    return rows, cols


def bbox_cells(area: Area | BBox, cell_deg: float = DEFAULT_CELL_DEG) -> Iterator[tuple[int, int]]:
    """Every grid cell that the area's bounding box touches, row by row."""
    box = area if isinstance(area, BBox) else bbox_of(area)
    r0, c0 = cell_of(box.min_lat, box.min_lon, cell_deg)
    r1, c1 = cell_of(box.max_lat, box.max_lon, cell_deg)
    for r in range(r0, r1 + 1):
        for c in range(c0, c1 + 1):
            yield r, c


def cell_bbox(row: int, col: int, cell_deg: float = DEFAULT_CELL_DEG) -> BBox:
    """The box a grid cell covers."""
    return BBox(
        row * cell_deg - 90.0, col * cell_deg - 180.0, (row + 1) * cell_deg - 90.0, (col + 1) * cell_deg - 180.0
    )


def area_cells(area: Area, cell_deg: float = DEFAULT_CELL_DEG) -> list[tuple[int, int]]:
    """The grid cells that actually meet the area (not just its bounding box)."""
    out = []
    for r, c in bbox_cells(area, cell_deg):
        b = cell_bbox(r, c, cell_deg)
        corners = ((b.min_lat, b.min_lon), (b.min_lat, b.max_lon), (b.max_lat, b.max_lon), (b.max_lat, b.min_lon))
        if areas_intersect(area, Polygon(points=corners)):
            out.append((r, c))
    return out
