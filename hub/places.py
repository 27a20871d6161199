"""Dutch places: municipalities with province and population, postcode regions, and province lookup.

The tables live in ``hub/data/`` (CSV, each with its source in the header):

* ``places.csv``: the ~100 largest municipalities and smaller ones that fill in every province
  (CBS population on 1 January 2023, approximate town-centre coordinates, aliases for main towns and
  common names such as "Den Haag" or "Den Bosch");
* ``postcode_regions.csv``: the two-digit postcode regions 10-99 with their main place;
* ``border_anchors.csv``: villages along the national border and places just across it.

Uses: turning a place name or postcode typed by a dispatcher or participant into coordinates
(:func:`lookup`), choosing the province accounts or regions an action's area concerns
(:func:`provinces_in`), and population weights for synthetic national benchmarks (:func:`all_places`).

:func:`province_at` answers with the province of the nearest reference point (a municipality or a
border village), or ``None`` when that point lies abroad or is further than ``max_km`` away (the open
sea). This is an approximation: within a few kilometres of a provincial or national border the answer
may be the neighbour's.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from . import geo
from .models import Area, Circle

DATA_DIR = Path(__file__).resolve().parent / "data"

PROVINCES: Mapping[str, str] = {
    "groningen": "Groningen",
    "friesland": "Fryslân",
    "drenthe": "Drenthe",
    "overijssel": "Overijssel",
    "flevoland": "Flevoland",
    "gelderland": "Gelderland",
    "utrecht": "Utrecht",
    "noord_holland": "Noord-Holland",
    "zuid_holland": "Zuid-Holland",
    "zeeland": "Zeeland",
    "noord_brabant": "Noord-Brabant",
    "limburg": "Limburg",
}
"""Province ids (used in settings and channel configuration) and their display names."""

DEFAULT_MAX_KM = 20.0
"""How far from the nearest reference point :func:`province_at` still answers (coastal waters)."""


#: The share of residents aged 16 and over (the age Burgernet participants must have), applied to every
#: municipality's population: the places table has population of all ages only. CBS StatLine, table
#: 85496NED "Bevolking; kerncijfers", 1 January 2023: 17,811,291 residents, 35.9 aged 0-19 per 100
#: aged 20-64 and a total dependency ratio of 70.3, so 21.1 % were younger than 20; with the cohorts
#: aged 0-19 of about equal size (CBS 03759ned by year of age), about 17 % were younger than 16 and
#: about 83 % were 16 or older. Municipalities with many students or many families differ from it by a
#: few points: participation per municipality is an estimate, labelled so in reports.
SHARE_16_PLUS = 0.83


@dataclass(frozen=True, slots=True)
class Place:
    """A municipality, or (``kind="postcode_region"``) the main place of a two-digit postcode region."""

    name: str
    province: str
    lat: float
    lon: float
    population: int = 0
    kind: str = "municipality"
    postcode: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def province_name(self) -> str:
        return PROVINCES[self.province]

    @property
    def population_16_plus(self) -> int:
        """Residents aged 16 and over, estimated with the national share (:data:`SHARE_16_PLUS`)."""
        return round(self.population * SHARE_16_PLUS)


def normalize_name(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form: ``"'s-Hertogenbosch"`` -> ``"s hertogenbosch"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = re.sub(r"['’`]", "", plain)
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain).split())


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, encoding="utf-8", newline="") as f:
        lines = [line for line in f if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(lines))


@dataclass(frozen=True)
class _Tables:
    places: tuple[Place, ...]
    by_name: Mapping[str, Place]
    regions: Mapping[str, Place]
    ref_lat: np.ndarray
    ref_lon: np.ndarray
    ref_province: tuple[str | None, ...]


@functools.cache
def _tables() -> _Tables:
    places = []
    for row in _rows("places.csv"):
        province = row["province"]
        if province not in PROVINCES:
            raise ValueError(f"places.csv: unknown province {province!r} for {row['name']!r}")
        places.append(
            Place(
                name=row["name"],
                province=province,
                lat=float(row["lat"]),
                lon=float(row["lon"]),
                population=int(row["population"]),
                aliases=tuple(a for a in (row.get("aliases") or "").split("|") if a),
            )
        )
    places.sort(key=lambda p: (-p.population, p.name))
    by_name: dict[str, Place] = {}
    for p in places:  # official names first, then aliases that do not clash with a name
        by_name.setdefault(normalize_name(p.name), p)
    for p in places:
        for alias in p.aliases:
            by_name.setdefault(normalize_name(alias), p)

    regions = {}
    for row in _rows("postcode_regions.csv"):
        regions[row["prefix"]] = Place(
            name=row["place"],
            province=row["province"],
            lat=float(row["lat"]),
            lon=float(row["lon"]),
            kind="postcode_region",
            postcode=row["prefix"],
        )

    ref_lat = [p.lat for p in places]
    ref_lon = [p.lon for p in places]
    ref_province: list[str | None] = [p.province for p in places]
    for row in _rows("border_anchors.csv"):
        ref_lat.append(float(row["lat"]))
        ref_lon.append(float(row["lon"]))
        ref_province.append((row["province"] or None) if row["country"] == "NL" else None)
    return _Tables(
        places=tuple(places),
        by_name=by_name,
        regions=regions,
        ref_lat=np.array(ref_lat),
        ref_lon=np.array(ref_lon),
        ref_province=tuple(ref_province),
    )


def all_places() -> tuple[Place, ...]:
    """Every municipality in the table, largest population first."""
    return _tables().places


def postcode_regions() -> Mapping[str, Place]:
    """The two-digit postcode regions (``"10"`` .. ``"99"``) and their main places."""
    return _tables().regions


_POSTCODE = re.compile(r"^\s*([1-9][0-9])([0-9]{2})\s*(?:[A-Za-z]{2})?\s*$")


def lookup(text: str) -> Place | None:
    """A place by name (case, accents and punctuation ignored; main towns and common names too), or
    by postcode (``"3511 AB"``, ``"3511AB"``, ``"3511"``): the main place of its two-digit region."""
    if not text or not text.strip():
        return None
    if m := _POSTCODE.match(text):
        return _tables().regions.get(m.group(1))
    key = normalize_name(text)
    tables = _tables()
    found = tables.by_name.get(key)
    if found is None and key.startswith("gemeente "):
        found = tables.by_name.get(key.removeprefix("gemeente "))
    return found


def province_at(lat: float, lon: float, *, max_km: float = DEFAULT_MAX_KM) -> str | None:
    """The province id of a point, or ``None`` abroad or far out at sea (see the module docs)."""
    t = _tables()
    d = geo.haversine_np(t.ref_lat, t.ref_lon, lat, lon)
    i = int(np.argmin(d))
    if d[i] > max_km * 1000:
        return None
    return t.ref_province[i]


def _samples(area: Area) -> list[tuple[float, float]]:
    if isinstance(area, Circle):
        points = [(area.lat, area.lon)]
        for fraction, count in ((1 / 3, 8), (2 / 3, 16), (1.0, 24)):
            for k in range(count):
                points.append(geo.destination(area.lat, area.lon, area.radius_m * fraction, 360.0 * k / count))
        return points
    ring = list(area.points)
    points = list(ring) + [geo.center_of(area)]
    points += [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in zip(ring, ring[1:] + ring[:1])]
    box = geo.bbox_of(area)
    grid = np.meshgrid(np.linspace(box.min_lat, box.max_lat, 16), np.linspace(box.min_lon, box.max_lon, 16))
    lats, lons = grid[0].ravel(), grid[1].ravel()
    inside = geo.points_in_polygon(lats, lons, area.points)
    points += list(zip(lats[inside].tolist(), lons[inside].tolist()))
    return points


def provinces_in(area: Area) -> set[str]:
    """The provinces an area touches (approximately: sampled points and the municipalities inside it).

    Parts of the area abroad add nothing; an area entirely abroad gives an empty set.
    """
    t = _tables()
    found = {province_at(lat, lon) for lat, lon in _samples(area)}
    inside = geo.contains_np(area, np.array([p.lat for p in t.places]), np.array([p.lon for p in t.places]))
    found.update(p.province for p, hit in zip(t.places, inside.tolist()) if hit)
    found.discard(None)
    return found  # type: ignore[return-value]


__all__ = [
    "PROVINCES",
    "Place",
    "all_places",
    "lookup",
    "normalize_name",
    "postcode_regions",
    "province_at",
    "provinces_in",
]
