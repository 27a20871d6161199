"""Geometry: distances, containment, bounding boxes, intersections, grid cells, radius per transport."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hub import geo
from hub.models import Circle, Polygon, TransportMode

DEGREE_M = math.pi * geo.EARTH_RADIUS_M / 180


@pytest.mark.parametrize(
    "a, b, expected_m, tolerance_m",
    [
        ((52.0, 5.0), (52.0, 5.0), 0.0, 1e-9),
        ((0.0, 0.0), (1.0, 0.0), DEGREE_M, 1e-6),
        ((0.0, 0.0), (0.0, 1.0), DEGREE_M, 1e-6),
        ((52.0, 5.0), (53.0, 5.0), DEGREE_M, 1e-6),
        # Amsterdam Centraal - Utrecht Centraal, about 35 km as the crow flies
        ((52.3791, 4.9003), (52.0894, 5.1100), 35_300.0, 500.0),
        ((0.0, 0.0), (0.0, 180.0), math.pi * geo.EARTH_RADIUS_M, 1e-3),
    ],
)
def test_haversine(a, b, expected_m, tolerance_m):
    assert geo.haversine_m(*a, *b) == pytest.approx(expected_m, abs=tolerance_m)
    assert geo.haversine_m(*b, *a) == pytest.approx(expected_m, abs=tolerance_m)


def test_haversine_np_matches_scalar():
    rng = np.random.default_rng(1)
    lats = rng.uniform(50, 54, 500)
    lons = rng.uniform(3, 8, 500)
    vector = geo.haversine_np(lats, lons, 52.1, 5.1)
    scalar = [geo.haversine_m(la, lo, 52.1, 5.1) for la, lo in zip(lats, lons)]
    assert np.allclose(vector, scalar, rtol=1e-12, atol=1e-6)


@pytest.mark.parametrize("lat0", [-45.0, 0.0, 50.8, 52.0, 53.5, 70.0])
@pytest.mark.parametrize("radius", [25.0, 1_000.0, 7_500.0, 40_000.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_within_radius_equals_exact_haversine(lat0, radius, dtype):
    rng = np.random.default_rng(int(abs(lat0) * 10 + radius))
    span = radius * 1.3 / DEGREE_M
    lats = (lat0 + rng.uniform(-span, span, 20_000)).astype(dtype)
    lons = (5.0 + rng.uniform(-3 * span, 3 * span, 20_000)).astype(dtype)
    exact = geo.haversine_np(lats, lons, lat0, 5.0) <= radius
    assert exact.any() and not exact.all()
    assert np.array_equal(geo.within_radius_np(lats, lons, lat0, 5.0, radius), exact)


def test_destination_round_trip():
    for bearing in range(0, 360, 30):
        lat, lon = geo.destination(52.0, 5.0, 5_000, bearing)
        assert geo.haversine_m(52.0, 5.0, lat, lon) == pytest.approx(5_000, abs=1e-6)
    north = geo.destination(52.0, 5.0, DEGREE_M, 0)
    assert north == pytest.approx((53.0, 5.0))


SQUARE = ((0.0, 0.0), (0.0, 10.0), (10.0, 10.0), (10.0, 0.0))
# a U shape: the notch (lat 3..10, lon 4..6) is outside
U_SHAPE = ((0.0, 0.0), (0.0, 10.0), (10.0, 10.0), (10.0, 6.0), (3.0, 6.0), (3.0, 4.0), (10.0, 4.0), (10.0, 0.0))


@pytest.mark.parametrize(
    "points, lat, lon, inside",
    [
        (SQUARE, 5, 5, True),
        (SQUARE, -1, 5, False),
        (SQUARE, 5, 11, False),
        (SQUARE + (SQUARE[0],), 5, 5, True),  # explicitly closed ring
        (U_SHAPE, 1, 5, True),  # the bottom of the U
        (U_SHAPE, 8, 5, False),  # in the notch
        (U_SHAPE, 8, 2, True),  # left arm
        (U_SHAPE, 8, 8, True),  # right arm
        (((0.0, 0.0), (1.0, 1.0)), 0.5, 0.5, False),  # fewer than three vertices
    ],
)
def test_point_in_polygon(points, lat, lon, inside):
    assert geo.point_in_polygon(lat, lon, points) is inside
    assert bool(geo.points_in_polygon(np.array([lat]), np.array([lon]), points)[0]) is inside


def test_points_in_polygon_matches_scalar():
    rng = np.random.default_rng(7)
    lats = rng.uniform(-1, 11, 2_000)
    lons = rng.uniform(-1, 11, 2_000)
    mask = geo.points_in_polygon(lats, lons, U_SHAPE)
    assert mask.any() and not mask.all()
    assert mask.tolist() == [geo.point_in_polygon(a, b, U_SHAPE) for a, b in zip(lats, lons)]


@pytest.mark.parametrize("lat", [0.0, 51.5, 53.4, 75.0])
def test_bbox_of_circle_holds_the_circle(lat):
    circle = Circle(lat=lat, lon=5.0, radius_m=12_000)
    box = geo.bbox_of_circle(circle)
    for bearing in np.linspace(0, 360, 73):
        p = geo.destination(lat, 5.0, 12_000, bearing)
        assert box.contains(*p) or min(abs(p[0] - box.min_lat), abs(p[0] - box.max_lat)) < 1e-9
    # and it is tight: the extreme points in the four directions lie on its edges
    assert geo.destination(lat, 5.0, 12_000, 0)[0] == pytest.approx(box.max_lat)
    assert geo.destination(lat, 5.0, 12_000, 180)[0] == pytest.approx(box.min_lat)


def test_bbox_of_polygon_and_center():
    poly = Polygon(points=SQUARE)
    box = geo.bbox_of(poly)
    assert (box.min_lat, box.min_lon, box.max_lat, box.max_lon) == (0, 0, 10, 10)
    assert geo.center_of(poly) == pytest.approx((5.0, 5.0))
    assert geo.center_of(Circle(lat=1, lon=2, radius_m=3)) == (1, 2)


@pytest.mark.parametrize(
    "mode, expected",
    [
        (TransportMode.ON_FOOT, 1_000),
        (TransportMode.BICYCLE, 2_500),
        (TransportMode.SCOOTER, 4_000),
        (TransportMode.CAR, 7_500),
        ("car", 7_500),
    ],
)
def test_radius_for_defaults(mode, expected):
    assert geo.radius_for(mode) == expected


def test_radius_for_operator_table_overrides_named_modes_only():
    table = {"car": 10_000.0, "on_foot": 800}
    assert geo.radius_for(TransportMode.CAR, table) == 10_000
    assert geo.radius_for("on_foot", table) == 800
    assert geo.radius_for(TransportMode.BICYCLE, table) == 2_500
    with pytest.raises(ValueError):
        geo.radius_for("rocket")
    with pytest.raises(ValueError):
        geo.radius_for("car", {"car": 0})


def test_circle_for_records_the_mode():
    circle = geo.circle_for(52.0, 5.0, "scooter")
    assert circle == Circle(lat=52.0, lon=5.0, radius_m=4_000, transport=TransportMode.SCOOTER)


def test_circles_intersect():
    a = Circle(lat=52.0, lon=5.0, radius_m=1_000)
    lat, lon = geo.destination(52.0, 5.0, 2_999, 90)
    assert geo.circles_intersect(a, Circle(lat=lat, lon=lon, radius_m=2_000))
    lat, lon = geo.destination(52.0, 5.0, 3_001, 90)
    assert not geo.circles_intersect(a, Circle(lat=lat, lon=lon, radius_m=2_000))


def test_circle_meets_polygon():
    # a long thin strip east-west at lat 52.00 .. 52.01
    strip = Polygon(points=((52.0, 4.0), (52.0, 6.0), (52.01, 6.0), (52.01, 4.0)))
    inside = Circle(lat=52.005, lon=5.0, radius_m=10)
    # south of the strip, no vertex near: only the edge comes within the radius
    lat, _ = geo.destination(52.0, 5.0, 500, 180)
    near = Circle(lat=lat, lon=5.0, radius_m=600)
    far = Circle(lat=lat, lon=5.0, radius_m=400)
    assert geo.circle_intersects_polygon(inside, strip)
    assert geo.circle_intersects_polygon(near, strip)
    assert not geo.circle_intersects_polygon(far, strip)
    assert geo.areas_intersect(near, strip) and geo.areas_intersect(strip, near)


def test_polygons_intersect():
    vertical = Polygon(points=((0, 4), (0, 6), (10, 6), (10, 4)))
    horizontal = Polygon(points=((4, 0), (4, 10), (6, 10), (6, 0)))
    small_inside = Polygon(points=((1, 1), (1, 2), (2, 2), (2, 1)))
    apart = Polygon(points=((20, 20), (20, 21), (21, 21)))
    assert geo.polygons_intersect(vertical, horizontal)  # a plus sign: edges cross, no vertex inside
    assert geo.polygons_intersect(Polygon(points=SQUARE), small_inside)
    assert geo.polygons_intersect(small_inside, Polygon(points=SQUARE))
    assert not geo.polygons_intersect(vertical, apart)
    assert not geo.areas_intersect(Polygon(points=U_SHAPE), Polygon(points=((7, 4.5), (7, 5.5), (8, 5.5), (8, 4.5))))


def test_cells():
    assert geo.cell_of(52.0, 5.0, 0.02) == (int((52.0 + 90) / 0.02), int((5.0 + 180) / 0.02))
    rows, cols = geo.cells_np(np.array([52.0, -10.0]), np.array([5.0, 170.0]), 0.02)
    assert list(zip(rows.tolist(), cols.tolist())) == [geo.cell_of(52.0, 5.0), geo.cell_of(-10.0, 170.0)]
    box = geo.cell_bbox(*geo.cell_of(52.013, 5.017))
    assert box.contains(52.013, 5.017)


def test_area_cells_cover_the_area_and_skip_far_corners():
    circle = Circle(lat=52.0, lon=5.0, radius_m=5_000)
    cells = set(geo.area_cells(circle))
    box_cells = set(geo.bbox_cells(circle))
    assert cells <= box_cells and len(cells) < len(box_cells)  # bbox corners lie outside the circle
    rng = np.random.default_rng(3)
    for _ in range(300):
        lat, lon = geo.destination(52.0, 5.0, rng.uniform(0, 5_000), rng.uniform(0, 360))
        assert geo.cell_of(lat, lon) in cells
