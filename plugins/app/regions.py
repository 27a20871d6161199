"""The coarse region grid that app installs subscribe to.

The earth is cut into cells of 0.1° latitude by 0.1° longitude (about 11 km by 7 km in the
Netherlands). A cell is named after its south-west corner with one decimal: ``r:52.0:5.1`` covers
``52.0 <= lat < 52.1`` and ``5.1 <= lon < 5.2``. The app computes the cells itself (its current cell,
usually with its eight neighbours, plus home and work if the user wants) and sends only those names:
the hub never learns where the device is within them.

Client-side formula (any language)::

    i = floor(lat * 10 + 1e-9); j = floor(lon * 10 + 1e-9)
    cell = "r:" + format(i / 10, ".1f") + ":" + format(j / 10, ".1f")

Everything here is pure and cheap: no I/O.
"""

from __future__ import annotations

import math
import re
from typing import Iterator

from hub.models import Area, Circle, Polygon

#: cells per degree; the grid is 1 / CELLS_PER_DEGREE degrees wide and high
CELLS_PER_DEGREE = 10
CELL_PATTERN = r"^r:-?[0-9]{1,2}\.[0-9]:-?[0-9]{1,3}\.[0-9]$"
_CELL_RE = re.compile(CELL_PATTERN)
# Metres per degree of latitude at the equator (the smallest value, so bounding boxes err on the large side).
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQUATOR = 111_320.0
_EPSILON = 1e-9

BBox = tuple[float, float, float, float]  # min_lat, min_lon, max_lat, max_lon


def _index(degrees: float) -> int:
    # The epsilon keeps values such as 52.3 (523.0000000001 or 522.9999999999 after scaling) in their own cell.
    return math.floor(degrees * CELLS_PER_DEGREE + _EPSILON)


def _name(i: int, j: int) -> str:
    return f"r:{i / CELLS_PER_DEGREE:.1f}:{j / CELLS_PER_DEGREE:.1f}"


def cell_of(lat: float, lon: float) -> str:
    """The name of the cell holding a point."""
    return _name(_index(lat), _index(lon))


def parse_cell(name: str) -> tuple[int, int]:
    """The grid indices of a cell name; ``ValueError`` unless the name is canonical and on the earth."""
    if not isinstance(name, str) or not _CELL_RE.match(name):
        raise ValueError(f"not a cell name like 'r:52.0:5.1': {name!r}")
    _, lat_text, lon_text = name.split(":")
    i = round(float(lat_text) * CELLS_PER_DEGREE)
    j = round(float(lon_text) * CELLS_PER_DEGREE)
    if not (-90 * CELLS_PER_DEGREE <= i < 90 * CELLS_PER_DEGREE and -180 * CELLS_PER_DEGREE <= j < 180 * CELLS_PER_DEGREE):
        raise ValueError(f"cell outside the earth: {name!r}")
    if _name(i, j) != name:
        raise ValueError(f"cell name not canonical (expected {_name(i, j)!r}): {name!r}")
    return i, j


def bounding_box(area: Area) -> BBox:
    """The latitude/longitude box around an area; a circle's box errs on the large side."""
    if isinstance(area, Circle):
        dlat = area.radius_m / _M_PER_DEG_LAT
        min_lat, max_lat = max(-90.0, area.lat - dlat), min(90.0, area.lat + dlat)
        widest = min(89.9, max(abs(min_lat), abs(max_lat)))
        dlon = area.radius_m / (_M_PER_DEG_LON_EQUATOR * math.cos(math.radians(widest)))
        return min_lat, max(-180.0, area.lon - dlon), max_lat, min(180.0, area.lon + dlon)
    if isinstance(area, Polygon):
        lats = [p[0] for p in area.points]
        lons = [p[1] for p in area.points]
        return min(lats), min(lons), max(lats), max(lons)
    raise TypeError(f"unknown area type {type(area).__name__}")


#: the most cells an action's area may touch for the app channel to reach it at all
MAX_COVERING_CELLS = 50_000

CellRange = tuple[int, int, int, int]  # first and last row (latitude index), first and last column


def cell_range(area: Area, *, limit: int = MAX_COVERING_CELLS) -> CellRange:
    """The grid indices ``(i0, i1, j0, j1)`` of the cells the area's bounding box touches (inclusive),
    or ``ValueError`` beyond ``limit`` cells."""
    min_lat, min_lon, max_lat, max_lon = bounding_box(area)
    i0, i1 = _index(min_lat), min(_index(max_lat), 90 * CELLS_PER_DEGREE - 1)
    j0, j1 = _index(min_lon), min(_index(max_lon), 180 * CELLS_PER_DEGREE - 1)
    count = (i1 - i0 + 1) * (j1 - j0 + 1)
    if count > limit:
        raise ValueError(f"area covers {count} cells, more than the limit of {limit}")
    return i0, i1, j0, j1


def in_range(cell: tuple[int, int], cells: CellRange) -> bool:
    """Whether a cell (its indices, from :func:`parse_cell`) lies in a :func:`cell_range`."""
    i0, i1, j0, j1 = cells
    return i0 <= cell[0] <= i1 and j0 <= cell[1] <= j1


def cells_covering(area: Area, *, limit: int = MAX_COVERING_CELLS) -> list[str]:
    """Every cell that the area's bounding box touches, or ``ValueError`` beyond ``limit`` cells."""
    return list(_cells(*cell_range(area, limit=limit)))


def _cells(i0: int, i1: int, j0: int, j1: int) -> Iterator[str]:
    for i in range(i0, i1 + 1):
        for j in range(j0, j1 + 1):
            yield _name(i, j)
