"""Which municipality a point belongs to, for counting actions and participants per municipality.

The answer is the municipality of the shipped places table (:mod:`hub.places`) whose centre is
nearest, or ``None`` when the nearest reference point is a place abroad (``border_anchors.csv``) or
further than :data:`MAX_KM` away (the open sea). Municipal boundaries are not shipped, so near a
boundary a point may be counted with its neighbour; every figure per municipality uses this same rule.

Counting millions of homes is done on a grid: each cell of :data:`STEP` degrees (about 1.4 x 2.2 km)
takes the answer for its centre, computed once for the whole grid in a few milliseconds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .. import geo, places

STEP = 0.02
MAX_KM = 20.0
# the grid covers the Netherlands and a margin
LAT0, LAT1, LON0, LON1 = 50.5, 53.8, 3.0, 7.5


@dataclass(frozen=True)
class _Refs:
    municipalities: tuple[places.Place, ...]
    lat: np.ndarray
    lon: np.ndarray
    index: np.ndarray  # per reference: index into municipalities, or -1 abroad
    grid: np.ndarray  # per grid cell: index into municipalities, or -1


@functools.cache
def _refs() -> _Refs:
    munis = places.all_places()
    lat = [p.lat for p in munis]
    lon = [p.lon for p in munis]
    index = list(range(len(munis)))
    for row in places._rows("border_anchors.csv"):
        lat.append(float(row["lat"]))
        lon.append(float(row["lon"]))
        # a Dutch border village counts with the nearest municipality centre; one abroad with nobody
        index.append(-2 if row["country"] == "NL" else -1)
    lat_a, lon_a, idx = np.array(lat), np.array(lon), np.array(index)
    muni_lat, muni_lon = lat_a[: len(munis)], lon_a[: len(munis)]
    for k in np.flatnonzero(idx == -2):
        d = geo.haversine_np(muni_lat, muni_lon, lat_a[k], lon_a[k])
        idx[k] = int(np.argmin(d))
    glat = np.arange(round(LAT0 / STEP), round(LAT1 / STEP) + 1) * STEP
    glon = np.arange(round(LON0 / STEP), round(LON1 / STEP) + 1) * STEP
    cell_lat, cell_lon = np.meshgrid(glat, glon, indexing="ij")
    grid = _nearest(cell_lat.ravel(), cell_lon.ravel(), lat_a, lon_a, idx).reshape(cell_lat.shape)
    return _Refs(munis, lat_a, lon_a, idx, grid)


def _nearest(lats: np.ndarray, lons: np.ndarray, ref_lat, ref_lon, ref_index) -> np.ndarray:
    out = np.empty(len(lats), dtype=np.int64)
    coslat = np.cos(np.radians(52.2))
    for a in range(0, len(lats), 4096):
        dy = lats[a:a + 4096, None] - ref_lat[None, :]
        dx = (lons[a:a + 4096, None] - ref_lon[None, :]) * coslat
        d2 = dy * dy + dx * dx
        k = np.argmin(d2, axis=1)
        km = np.sqrt(d2[np.arange(len(k)), k]) * 111.2
        out[a:a + 4096] = np.where(km <= MAX_KM, ref_index[k], -1)
    return out


def municipalities() -> tuple[places.Place, ...]:
    """The municipalities figures are counted for (the places table, largest first)."""
    return _refs().municipalities


def municipality_at(lat: float, lon: float) -> places.Place | None:
    """The municipality a point is counted with (see the module's docs), or ``None``."""
    r = _refs()
    k = int(_nearest(np.array([lat]), np.array([lon]), r.lat, r.lon, r.index)[0])
    return r.municipalities[k] if k >= 0 else None


def municipalities_at(lats: np.ndarray, lons: np.ndarray) -> list[places.Place | None]:
    """:func:`municipality_at` for many points at once."""
    r = _refs()
    if not len(lats):
        return []
    return [r.municipalities[k] if k >= 0 else None for k in _nearest(lats, lons, r.lat, r.lon, r.index).tolist()]


def count_cells(cells: list[tuple[int, int, int]], step: float = STEP) -> np.ndarray:
    """Per municipality (in :func:`municipalities` order), the sum of counts of grid cells
    ``(round(lat / step), round(lon / step), count)``; cells outside the grid or abroad count for none."""
    r = _refs()
    out = np.zeros(len(r.municipalities), dtype=np.int64)
    if not cells:
        return out
    arr = np.array(cells, dtype=np.int64)
    if step != STEP:
        raise ValueError(f"cells must be counted on the {STEP}-degree grid")
    i = arr[:, 0] - round(LAT0 / STEP)
    j = arr[:, 1] - round(LON0 / STEP)
    inside = (i >= 0) & (i < r.grid.shape[0]) & (j >= 0) & (j < r.grid.shape[1])
    k = np.full(len(arr), -1)
    k[inside] = r.grid[i[inside], j[inside]]
    ok = k >= 0
    np.add.at(out, k[ok], arr[ok, 2])
    return out
