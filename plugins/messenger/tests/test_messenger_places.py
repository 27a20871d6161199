"""Postcodes, place names and what a message means."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from hub.models import Circle, Polygon
from plugins.messenger.areas import circle_meets_area, haversine_m
from plugins.messenger.conversation import IntentKind, detect_language, parse
from plugins.messenger import places
from plugins.messenger.places import lookup


@pytest.fixture
def without_hub_places(monkeypatch):
    monkeypatch.setattr(places, "_hub_places", lambda: None)


@pytest.fixture
def fake_hub_places(monkeypatch):
    """A stand-in with hub.places' shape: names to municipalities, postcodes to 2-digit regions."""

    @dataclass(frozen=True)
    class HubPlace:
        name: str
        province: str
        lat: float
        lon: float
        kind: str = "municipality"

    def lookup(text):
        if text.strip()[:1].isdigit():
            return HubPlace("Hardenberg", "overijssel", 52.5758, 6.6194, kind="postcode_region") if text.startswith("77") else None
        return {"den haag": HubPlace("'s-Gravenhage", "zuid_holland", 52.0799, 4.3113),
                "urk": HubPlace("Urk", "flevoland", 52.6617, 5.6000)}.get(text.lower())

    monkeypatch.setattr(places, "_hub_places", lambda: SimpleNamespace(lookup=lookup))


@pytest.mark.parametrize(
    "text, name, approximate",
    [
        ("3511 AB", "3511 (Utrecht)", False),
        ("3511ab", "3511 (Utrecht)", False),
        ("  1012 ", "1012 (Amsterdam)", False),
        ("Den Haag", "Den Haag", False),
        ("'s-Gravenhage", "Den Haag", False),
        ("den bosch", "'s-Hertogenbosch", False),
        ("Alphen aan den Rijn", "Alphen aan den Rijn", False),
        ("7776", "7776 (regio Hardenberg en Coevorden)", True),
    ],
)
def test_own_table(without_hub_places, text, name, approximate):
    place = lookup(text)
    assert place is not None and place.name == name and place.approximate is approximate
    assert 50.7 < place.lat < 53.6 and 3.3 < place.lon < 7.3  # inside the Netherlands' bounding box


@pytest.mark.parametrize(
    "text, name, approximate",
    [
        ("den haag", "'s-Gravenhage", False),  # names: hub.places first
        ("urk", "Urk", False),  # a place only hub.places knows
        ("Utrecht", "Utrecht", False),  # unknown to hub.places: the own table answers
        ("3511 AB", "3511 (Utrecht)", False),  # postcodes: the own 4-digit ranges first
        ("7776", "7776 (regio Hardenberg)", True),  # then hub.places' 2-digit region, approximate
        ("9999", "9999 (regio Delfzijl en Appingedam)", True),  # then the own regions
    ],
)
def test_hub_places_first_where_it_knows_more(fake_hub_places, text, name, approximate):
    place = lookup(text)
    assert place is not None and place.name == name and place.approximate is approximate


def test_a_broken_hub_places_falls_back(monkeypatch):
    def broken(text):
        raise RuntimeError("data file missing")

    monkeypatch.setattr(places, "_hub_places", lambda: SimpleNamespace(lookup=broken))
    assert lookup("Utrecht").name == "Utrecht"


@pytest.mark.parametrize("text", ["0123", "12345", "Atlantis", "", "x" * 200])
def test_unknown(text):
    assert lookup(text) is None


def test_postcode_ranges_agree_with_place_names(without_hub_places):
    for postcode, town in [("3431", "Nieuwegein"), ("5611", "Eindhoven"), ("9711", "Groningen"), ("6211", "Maastricht")]:
        by_code, by_name = lookup(postcode), lookup(town)
        assert (by_code.lat, by_code.lon) == (by_name.lat, by_name.lon)


def parsed(text):
    return parse(text, default_radius_m=2000, max_radius_m=25000)


@pytest.mark.parametrize(
    "text, kind, radius",
    [
        ("3511 AB", IntentKind.SUBSCRIBE, 2000),
        ("Aanmelden voor 3511 AB, straal 3 km", IntentKind.SUBSCRIBE, 3000),
        ("Utrecht 2,5 km", IntentKind.SUBSCRIBE, 2500),
        ("subscribe to Rotterdam 10km", IntentKind.SUBSCRIBE, 10000),
        ("Utrecht 99 km", IntentKind.SUBSCRIBE, 25000),  # capped
        ("3511 2 km", IntentKind.SUBSCRIBE, 2000),
        ("7776", IntentKind.SUBSCRIBE, 10000),  # a region: at least as wide as its uncertainty
        ("STOP", IntentKind.UNSUBSCRIBE, None),
        ("afmelden", IntentKind.UNSUBSCRIBE, None),
        ("status", IntentKind.STATUS, None),
        ("Hallo!", IntentKind.HELP, None),
        ("aanmelden", IntentKind.HELP, None),
        ("aanmelden Atlantis", IntentKind.UNKNOWN_PLACE, None),
        ("0000", IntentKind.UNKNOWN_PLACE, None),
        ("Ik zag hem lopen in Utrecht", IntentKind.OTHER, None),
        ("bedankt", IntentKind.OTHER, None),
    ],
)
def test_intents(text, kind, radius):
    intent = parsed(text)
    assert intent.kind is kind
    if radius is not None:
        assert intent.radius_m == radius


def test_language():
    assert detect_language("Subscribe to Amsterdam please") == "en"
    assert detect_language("Ik wil me aanmelden voor Utrecht") == "nl"
    assert detect_language("3511 AB", previous="en") == "en"
    assert detect_language("stop") == "nl"


def test_geometry():
    assert 34_000 < haversine_m(52.0907, 5.1214, 52.3728, 4.8936) < 36_000  # Utrecht - Amsterdam
    assert circle_meets_area(52.0, 5.0, 1000, Circle(lat=52.0, lon=5.02, radius_m=500))  # 1.37 km apart
    assert not circle_meets_area(52.0, 5.0, 500, Circle(lat=52.0, lon=5.02, radius_m=500))
    square = Polygon(points=((52.0, 5.0), (52.0, 5.1), (52.1, 5.1), (52.1, 5.0)))
    assert circle_meets_area(52.05, 5.05, 1, square)  # centre inside
    assert circle_meets_area(52.05, 5.11, 1000, square)  # ~690 m east of an edge
    assert not circle_meets_area(52.05, 5.12, 1000, square)  # ~1.4 km east
