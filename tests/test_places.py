"""Places table: lookups by name and postcode, province of a point, provinces of an area, data sanity."""

from __future__ import annotations

import pytest

from hub import geo, places
from hub.models import Circle, Polygon
from hub.places import PROVINCES, all_places, lookup, postcode_regions, province_at, provinces_in


@pytest.mark.parametrize(
    "text, name, province",
    [
        ("Amsterdam", "Amsterdam", "noord_holland"),
        ("  amsterdam ", "Amsterdam", "noord_holland"),
        ("Den Haag", "'s-Gravenhage", "zuid_holland"),
        ("'s-Gravenhage", "'s-Gravenhage", "zuid_holland"),
        ("s gravenhage", "'s-Gravenhage", "zuid_holland"),
        ("Den Bosch", "'s-Hertogenbosch", "noord_brabant"),
        ("’s-Hertogenbosch", "'s-Hertogenbosch", "noord_brabant"),
        ("Súdwest-Fryslân", "Súdwest-Fryslân", "friesland"),
        ("SUDWEST FRYSLAN", "Súdwest-Fryslân", "friesland"),
        ("Sneek", "Súdwest-Fryslân", "friesland"),
        ("Hoofddorp", "Haarlemmermeer", "noord_holland"),
        ("gemeente Utrecht", "Utrecht", "utrecht"),
        ("Bergen", "Bergen (NH.)", "noord_holland"),
        ("Bergen (L.)", "Bergen (L.)", "limburg"),
        ("Hengelo", "Hengelo", "overijssel"),
        ("Urk", "Urk", "flevoland"),
    ],
)
def test_lookup_by_name(text, name, province):
    place = lookup(text)
    assert place is not None and (place.name, place.province) == (name, province)
    assert place.kind == "municipality" and place.population > 0


@pytest.mark.parametrize(
    "text, region, name, province",
    [
        ("3511 AB", "35", "Utrecht", "utrecht"),
        ("3511AB", "35", "Utrecht", "utrecht"),
        ("3511 ab", "35", "Utrecht", "utrecht"),
        ("3511", "35", "Utrecht", "utrecht"),
        ("1012 JS", "10", "Amsterdam", "noord_holland"),
        ("9999", "99", "Delfzijl", "groningen"),
        ("6211", "62", "Maastricht", "limburg"),
    ],
)
def test_lookup_by_postcode(text, region, name, province):
    place = lookup(text)
    assert place is not None
    assert (place.kind, place.postcode, place.name, place.province) == ("postcode_region", region, name, province)


@pytest.mark.parametrize("text", ["", "   ", "Atlantis", "0123 AB", "351", "35111", "Gronau"])
def test_lookup_unknown(text):
    assert lookup(text) is None


def test_table_covers_the_largest_municipalities_and_every_province():
    table = all_places()
    assert len(table) >= 100
    assert [p.population for p in table] == sorted((p.population for p in table), reverse=True)
    assert [p.name for p in table[:4]] == ["Amsterdam", "Rotterdam", "'s-Gravenhage", "Utrecht"]
    assert {p.province for p in table} == set(PROVINCES)
    assert len({p.name for p in table}) == len(table)
    # the table holds most of the country's ~17.8 million inhabitants (2023)
    assert 15_000_000 < sum(p.population for p in table) < 18_000_000
    for p in table:
        assert 50.7 < p.lat < 53.5 and 3.3 < p.lon < 7.3, p
        assert province_at(p.lat, p.lon) == p.province, p


def test_data_files_name_their_source():
    header = (places.DATA_DIR / "places.csv").read_text(encoding="utf-8").splitlines()[:5]
    assert any("CBS" in line and "2023" in line for line in header)


def test_postcode_regions_cover_10_to_99():
    regions = postcode_regions()
    assert sorted(regions) == [str(n) for n in range(10, 100)]
    for prefix, region in regions.items():
        assert region.province in PROVINCES
        assert province_at(region.lat, region.lon) == region.province, prefix


@pytest.mark.parametrize(
    "lat, lon, province",
    [
        (52.3728, 4.8936, "noord_holland"),  # Amsterdam
        (52.2215, 6.8937, "overijssel"),  # Enschede
        (52.2150, 6.9750, "overijssel"),  # Glanerbrug, at the border
        (50.8660, 6.0700, "limburg"),  # Kerkrade
        (52.3300, 5.5400, "flevoland"),  # Zeewolde
        (52.1500, 5.8500, "gelderland"),  # the Veluwe
        (53.4450, 5.7750, "friesland"),  # Ameland
        (51.4988, 3.6110, "zeeland"),  # Middelburg
        (52.2125, 7.0226, None),  # Gronau, Germany
        (50.7760, 6.0840, None),  # Aachen
        (51.2200, 4.4000, None),  # Antwerp
        (51.8300, 6.2500, None),  # Emmerich
        (52.6000, 3.0000, None),  # the North Sea
        (52.5200, 13.4000, None),  # Berlin
    ],
)
def test_province_at(lat, lon, province):
    assert province_at(lat, lon) == province


def test_provinces_in_areas():
    assert provinces_in(Circle(lat=52.0907, lon=5.1214, radius_m=2_000)) == {"utrecht"}
    # a big circle around Utrecht reaches the neighbouring provinces
    assert provinces_in(Circle(lat=52.0907, lon=5.1214, radius_m=30_000)) >= {
        "utrecht", "noord_holland", "zuid_holland", "gelderland"
    }
    # a circle across the border near Enschede: the German part adds nothing
    assert provinces_in(geo.circle_for(52.2150, 6.9750, "car")) == {"overijssel"}
    assert provinces_in(Circle(lat=51.0, lon=7.5, radius_m=5_000)) == set()  # entirely abroad
    # a polygon over the Zeeland / Noord-Brabant border
    poly = Polygon(points=((51.40, 4.00), (51.60, 4.00), (51.60, 4.40), (51.40, 4.40)))
    assert {"zeeland", "noord_brabant"} <= provinces_in(poly)


def test_place_names_normalise():
    assert places.normalize_name("’s-Hertogenbosch") == "s hertogenbosch"
    assert places.normalize_name("Súdwest-Fryslân") == "sudwest fryslan"
    assert lookup("Súdwest-Fryslân").province_name == "Fryslân"
