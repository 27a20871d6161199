"""The coarse grid and the payload size budget: pure functions, table-driven."""

from __future__ import annotations

import json
import math

import pytest

from hub.models import Circle, MessageKind, Notice, Polygon
from hub.testing import make_action
from plugins.app.payload import build_payload, fit
from plugins.app.push import MAX_PLAINTEXT
from plugins.app.regions import bounding_box, cell_of, cells_covering, parse_cell


@pytest.mark.parametrize(
    "lat, lon, cell",
    [
        (52.0894, 5.1100, "r:52.0:5.1"),
        (52.0, 5.1, "r:52.0:5.1"),  # the south-west corner belongs to the cell
        (52.3, 4.9, "r:52.3:4.9"),  # 52.3 * 10 is not exactly 523 in binary floating point
        (52.0999999, 5.1999999, "r:52.0:5.1"),
        (-0.05, -0.05, "r:-0.1:-0.1"),
        (0.05, -179.95, "r:0.0:-180.0"),
        (89.99, 179.99, "r:89.9:179.9"),
    ],
)
def test_cell_of(lat, lon, cell):
    assert cell_of(lat, lon) == cell
    parse_cell(cell)


@pytest.mark.parametrize("name", ["r:52.00:5.1", "r:52:5.1", "r:-0.0:5.1", "r:90.0:5.1", "r:52.0:180.0", "52.0:5.1", "r:52.0:5.1:x"])
def test_parse_cell_refuses(name):
    with pytest.raises(ValueError):
        parse_cell(name)


def test_a_circle_near_a_cell_edge_covers_both_cells():
    # 300 m south of the 52.1 line: the box crosses into the northern cells
    circle = Circle(lat=52.0975, lon=5.15, radius_m=500)
    assert set(cells_covering(circle)) == {"r:52.0:5.1", "r:52.1:5.1"}
    min_lat, min_lon, max_lat, max_lon = bounding_box(circle)
    # the box holds the whole circle (north/south and east/west extremes)
    assert max_lat - circle.lat >= 500 / 111_700 and circle.lon - min_lon >= 500 / (111_320 * math.cos(math.radians(52.1)))


def test_a_polygon_covers_the_cells_of_its_box():
    poly = Polygon(points=((51.95, 4.45), (52.05, 4.55), (51.98, 4.62)))
    assert cells_covering(poly) == ["r:51.9:4.4", "r:51.9:4.5", "r:51.9:4.6", "r:52.0:4.4", "r:52.0:4.5", "r:52.0:4.6"]


def test_the_whole_country_is_a_few_thousand_cells_and_the_limit_holds():
    netherlands = Polygon(points=((50.75, 3.2), (53.7, 3.2), (53.7, 7.25), (50.75, 7.25)))
    assert 1000 < len(cells_covering(netherlands)) < 2000
    with pytest.raises(ValueError):
        cells_covering(Circle(lat=0, lon=0, radius_m=5_000_000), limit=1000)


def test_payload_fits_by_cutting_text_last():
    action = make_action(description="Lange omschrijving. " * 400)
    body = build_payload(Notice(action=action, kind=MessageKind.START), title="t", text=action.description, tip_url=None)
    data = fit(body)
    assert len(data) <= MAX_PLAINTEXT
    decoded = json.loads(data)
    assert decoded["text"].endswith("…") and decoded["area"]["type"] == "circle"
    assert decoded["callback"] == "0800 0011" and decoded["action"] == action.id
