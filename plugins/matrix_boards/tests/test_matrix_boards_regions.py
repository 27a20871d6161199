"""Regions, the audience of the channel, and its settings."""

from __future__ import annotations

import jsonschema
import pytest

from hub.errors import ConfigError
from hub.models import Circle, Polygon
from hub.testing import make_action, make_context
from plugins.matrix_boards import MatrixBoardsChannel
from plugins.matrix_boards.regions import Region, haversine_m, region_id

UTRECHT = {"id": "utrecht", "name": "Utrecht", "lat": 52.0907, "lon": 5.1214, "radius_m": 10_000}
ZEIST = {"id": "zeist", "lat": 52.0894, "lon": 5.2339, "radius_m": 4_000}
AMSTERDAM = {"id": "amsterdam", "lat": 52.3728, "lon": 4.8936, "radius_m": 12_000}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("utrecht", "utrecht"), ("Noord-Brabant", "noord-brabant"), ("Súdwest-Fryslân", "sudwest-fryslan"),
     ("Den Haag", "den-haag"), ("a/b+#", "a-b"), ("///", None), ("", None), ("$SYS", "sys")],
)
def test_region_id_is_one_safe_topic_level(value, expected):
    assert region_id(value) == expected


def test_haversine_utrecht_amsterdam():
    assert 34_000 < haversine_m(52.0907, 5.1214, 52.3728, 4.8936) < 36_000


@pytest.mark.parametrize(
    ("area", "meets"),
    [
        (Circle(lat=52.0907, lon=5.1214, radius_m=100), True),  # centre inside
        (Circle(lat=52.2, lon=5.1214, radius_m=3_000), True),  # 12.2 km away, radii add up to 13 km
        (Circle(lat=52.2, lon=5.1214, radius_m=1_000), False),
        (Polygon(points=((52.0, 5.0), (52.2, 5.0), (52.2, 5.3), (52.0, 5.3))), True),  # region inside it
        (Polygon(points=((52.17, 5.0), (52.30, 5.0), (52.30, 5.3), (52.17, 5.3))), True),  # edge 8.7 km away
        (Polygon(points=((52.20, 5.0), (52.30, 5.0), (52.30, 5.3), (52.20, 5.3))), False),  # edge 12 km away
        (Polygon(points=((52.09, 5.12), (52.091, 5.12), (52.091, 5.121))), True),  # tiny, inside
    ],
)
def test_region_meets_area(area, meets):
    assert Region.from_settings(UTRECHT).meets(area) is meets


def test_region_without_area_meets_nothing():
    assert not Region.from_settings("utrecht").meets(Circle(lat=52.09, lon=5.12, radius_m=1e6))


def channel(**settings) -> MatrixBoardsChannel:
    return MatrixBoardsChannel(make_context("matrix_boards", settings, sandbox=True, channel_cls=MatrixBoardsChannel))


async def test_audience_is_the_regions_met_plus_the_actions_own_region():
    ch = channel(regions=[UTRECHT, ZEIST, AMSTERDAM, {"id": "gelderland", "language": "en"}])
    near = make_action(area=Circle(lat=52.09, lon=5.17, radius_m=2_000), region="Gelderland")
    recipients = await ch.resolve_audience(near)
    assert [r.address for r in recipients] == ["utrecht", "zeist", "gelderland"]
    assert all(r.participant_id is None for r in recipients)
    assert [r.language for r in recipients] == ["nl", "nl", "en"]
    assert recipients[0].meta == {"region": "utrecht", "name": "Utrecht"}


async def test_audience_includes_an_unconfigured_action_region_once():
    ch = channel(regions=[UTRECHT])
    recipients = await ch.resolve_audience(make_action(region="Utrecht"))
    assert [r.address for r in recipients] == ["utrecht"]
    recipients = await ch.resolve_audience(make_action(region="Flevoland", area=Circle(lat=0, lon=0, radius_m=1)))
    assert [r.address for r in recipients] == ["flevoland"]
    assert await ch.resolve_audience(make_action(region=None, area=Circle(lat=0, lon=0, radius_m=1))) == []


def test_duplicate_regions_are_a_config_error():
    with pytest.raises(ConfigError, match="utrecht"):
        channel(regions=["utrecht", {"id": "utrecht"}])


VALIDATOR = jsonschema.Draft202012Validator(MatrixBoardsChannel.settings_schema)


@pytest.mark.parametrize(
    ("settings", "valid"),
    [
        ({}, True),
        ({"host": "mqtt.example.org", "port": 8883, "tls": True, "username": "hub", "password": "s3cret"}, True),
        ({"regions": ["utrecht", UTRECHT | {"id": "utrecht-stad", "lines": 2, "width": 16}]}, True),
        ({"password": "s3cret"}, False),  # a password needs a user name
        ({"port": 0}, False),
        ({"protocol": "4"}, False),
        ({"regions": ["Utrecht"]}, False),  # region ids are lower-case topic levels
        ({"regions": ["a/b"]}, False),
        ({"regions": ["+"]}, False),
        ({"regions": [{"id": "x", "lat": 52.0}]}, False),  # a centre needs lon and radius_m
        ({"regions": [{"id": "x", "colour": "red"}]}, False),
        ({"topic_prefix": "city/signs"}, True),
        ({"topic_prefix": "bad/#"}, False),
        ({"topic_prefix": "/lead"}, False),
        ({"lines": 0}, False),
        ({"width": 4}, False),
        ({"unknown": 1}, False),
        ({"key_file": "k.pem"}, False),  # a key without its certificate
    ],
)
def test_settings_schema(settings, valid):
    assert VALIDATOR.is_valid(settings) is valid


def test_secrets_are_marked_private():
    props = MatrixBoardsChannel.settings_schema["properties"]
    assert props["password"]["private"] is True and props["key_password"]["private"] is True
    assert [k for k, v in props.items() if v.get("private")] == ["password", "key_password"]
