"""Property tests for the parsers that take outside input: routing rules, CSV imports, areas, phone numbers.

Each holds for any input Hypothesis makes up: a parser returns a result or raises the hub's own
``ValidationError``/``ConfigError`` naming what is wrong, never anything else, and what it accepts
means what it says (an area contains exactly the points within it, across the national border too).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hub import geo  # noqa: E402
from hub.errors import ConfigError, ValidationError  # noqa: E402
from hub.inbound import parse_json  # noqa: E402
from hub.errors import MalformedInput  # noqa: E402
from hub.models import ActionType, Circle, Domain, Polygon, Urgency  # noqa: E402
from hub.participants import normalize_phone, parse_csv  # noqa: E402
from hub.routing import RouteFacts, RuleSet  # noqa: E402

#: new examples every local run; the same ones in CI, so that a run there is repeatable
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=bool(os.environ.get("CI")))
CHANNELS = ["sms", "voice", "app", "twitter", "email", "messenger", "matrix_boards"]

# -- routing rules ---------------------------------------------------------------------------

_values = {
    "type": st.sampled_from([t.value for t in ActionType]),
    "urgency": st.sampled_from([u.value for u in Urgency]),
    "domain": st.sampled_from([d.value for d in Domain]),
    "region": st.sampled_from(["utrecht", "limburg", "groningen"]),
}
_match = st.dictionaries(
    st.sampled_from(sorted(_values)), st.none(), min_size=1, max_size=2
).flatmap(lambda keys: st.fixed_dictionaries({k: st.one_of(_values[k], st.lists(_values[k], min_size=1, max_size=3, unique=True))
                                               for k in keys}))


def _route(children=None):
    optional = {"channels": st.lists(st.sampled_from(CHANNELS), max_size=3, unique=True),
                "continue": st.booleans(), "bypass_quiet_hours": st.booleans(), "match_not": _match}
    if children is not None:
        optional["routes"] = st.lists(children, min_size=1, max_size=3)
    return st.fixed_dictionaries({"match": _match}, optional=optional)


_trees = st.fixed_dictionaries(
    {"channels": st.lists(st.sampled_from(CHANNELS), max_size=2, unique=True)},
    optional={"routes": st.lists(st.recursive(_route(), _route, max_leaves=6), max_size=4)},
)


def _named(tree, counter=None):
    """Give every route a unique name, as the format requires."""
    counter = counter if counter is not None else iter(range(10_000))
    for child in tree.get("routes", ()):
        child["name"] = f"r{next(counter)}"
        _named(child, counter)
    return tree


@SETTINGS
@given(_trees.map(_named))
def test_rules_that_load_route_every_action_to_channels_they_name(tree):
    rules = RuleSet.load(yaml.safe_dump(tree), known_channels=CHANNELS)
    gaps = []
    for t in ActionType:
        for u in Urgency:
            for region in (None, "utrecht"):
                decision = rules.route(RouteFacts(type=t, urgency=u, region=region))
                assert set(decision.channels) <= rules.channels
                assert len(decision.channels) == len(set(decision.channels))
                if not decision.channels and region is None:
                    gaps.append((t.value, u.value))
    assert rules.gaps() == gaps
    if gaps:
        with pytest.raises(ValidationError, match="no channel at all"):
            rules.check_gaps()
    else:
        rules.check_gaps()


_yamlish = st.text(alphabet=st.sampled_from(list("abcrouteschanls:-[]{}&*!|>'\"#\n ,0123456789\t\\%@`?")) , max_size=300)


@SETTINGS
@given(st.one_of(_yamlish, st.text(max_size=300), st.sampled_from(["~: x", ": x\nchannels: []", "1: 2", "[]: x", "? [a]\n: b"])))
def test_any_text_as_rules_loads_or_is_refused_with_a_reason(text):
    try:
        RuleSet.load(text, known_channels=CHANNELS, allow_gaps=False)
    except ConfigError as e:
        assert str(e)


@SETTINGS
@given(st.integers(2, 12), st.integers(2, 12))
def test_aliases_never_expand_past_the_limit(width, depth):
    lines = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, depth)]
    text = "\n".join(lines) + "\nchannels: [sms]\n"
    aliases, expanded = (depth - 1) * width, width**depth
    with pytest.raises(ConfigError) as refused:
        RuleSet.load(text, known_channels=CHANNELS, allow_gaps=True)
    if aliases > 100 or expanded > 40_000:
        assert "alias" in str(refused.value)
    elif expanded < 10_000:
        assert "not an allowed field" in str(refused.value)  # read in full, then refused by the format


# -- JSON bodies ------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=30,
)


@SETTINGS
@given(st.binary(max_size=200) | _json.map(lambda v: __import__("json").dumps(v).encode()))
def test_any_body_parses_as_json_or_is_refused_naming_the_body(raw):
    try:
        parse_json(raw)
    except MalformedInput as e:
        assert e.field == "(root)"


# -- CSV imports ------------------------------------------------------------------------------

_csv_cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
_columns = st.sampled_from(["id", "mobile", "landline", "email", "channels", "home_lat", "home_lon", "work_lat",
                            "work_lon", "work_days", "work_from", "work_to", "quiet_from", "quiet_to",
                            "paused_until", "language", "unknown", ""])


@SETTINGS
@given(st.lists(_columns, min_size=1, max_size=6), st.lists(st.lists(_csv_cells, max_size=7), max_size=6),
       st.sampled_from([",", ";", "\t"]))
def test_any_csv_imports_rows_or_names_row_and_column(header, rows, delimiter):
    text = "\n".join(delimiter.join(line) for line in [header, *rows])
    participants, errors = parse_csv(text)
    assert len(participants) <= len(rows)
    for error in errors:
        assert error.row >= 1 and error.field and error.reason


@SETTINGS
@given(st.text(max_size=400))
def test_any_text_as_csv_never_breaks_the_import(text):
    participants, errors = parse_csv(text)
    for error in errors:
        assert error.row >= 1 and error.reason


@SETTINGS
@given(st.lists(st.tuples(st.integers(10, 59), st.integers(0, 999_999), st.floats(50.75, 53.55), st.floats(3.36, 7.22)),
                min_size=1, max_size=8, unique_by=lambda r: (r[0], r[1])))
def test_good_rows_import_with_their_numbers_and_places(rows):
    lines = ["id,mobile,home_lat,home_lon,channels"]
    for i, (prefix, rest, lat, lon) in enumerate(rows):
        lines.append(f"p{i},06-{prefix}{rest:06d},{lat!r},{lon!r},sms email")
    participants, errors = parse_csv("\n".join(lines), verified=True)  # vouched for: the numbers count
    assert errors == []
    for p, (prefix, rest, lat, lon) in zip(participants, rows):
        assert p.mobile == f"+316{prefix}{rest:06d}"
        assert (p.addresses[0].lat, p.addresses[0].lon) == (lat, lon)


# -- phone numbers ----------------------------------------------------------------------------


@SETTINGS
@given(st.text(max_size=40) | st.from_regex(r"\+?[0-9 ()-]{0,20}", fullmatch=True))
def test_any_text_as_a_phone_number_normalises_or_is_refused(raw):
    try:
        phone = normalize_phone(raw)
    except ValidationError as e:
        assert e.field == "number"
        return
    assert phone.number.startswith("+") and phone.number[1:].isdigit()
    assert normalize_phone(phone.number) == phone  # E.164 is a fixed point


@SETTINGS
@given(st.integers(10, 59), st.integers(0, 999_999),
       st.sampled_from(["06{p}{r}", "06-{p}{r}", "06 {p} {r}", "+316{p}{r}", "0031 6 {p}{r}", "+31 (0)6 {p}{r}",
                        "(06) {p}{r}", "316{p}{r}"]))
def test_dutch_mobiles_in_any_common_notation_are_one_number(prefix, rest, pattern):
    raw = pattern.format(p=prefix, r=f"{rest:06d}")
    if pattern.startswith("316"):
        raw = "+" + raw
    phone = normalize_phone(raw)
    assert phone.number == f"+316{prefix}{rest:06d}" and phone.kind == "mobile"


# -- areas ------------------------------------------------------------------------------------

#: the Netherlands and a band of Belgium and Germany around it: areas are never clipped at the border
_lat = st.floats(50.5, 53.8)
_lon = st.floats(3.0, 7.8)
#: near the Dutch-German border (Enschede, Venlo, Kerkrade), where circles cross it
_border_lon = st.floats(5.95, 7.25)


@SETTINGS
@given(_lat, _border_lon, st.floats(100, 30_000),
       st.lists(st.tuples(st.floats(-0.4, 0.4), st.floats(-0.6, 0.6)), min_size=1, max_size=40))
def test_a_circle_contains_exactly_the_points_within_its_radius(lat, lon, radius, offsets):
    circle = Circle(lat=lat, lon=lon, radius_m=radius)
    lats = np.array([lat + d[0] for d in offsets])
    lons = np.array([lon + d[1] for d in offsets])
    inside = geo.contains_np(circle, lats, lons)
    for la, lo, got in zip(lats, lons, inside):
        distance = geo.haversine_m(lat, lon, float(la), float(lo))
        if abs(distance - radius) > 0.01:  # on the rim either answer is fine
            assert bool(got) == (distance < radius), (la, lo, distance, radius)
            assert geo.contains(circle, float(la), float(lo)) == bool(got)


def _convex(center_lat, center_lon, radii, start):
    n = len(radii)
    return [(center_lat + r * math.sin(start + 2 * math.pi * i / n), center_lon + 1.5 * r * math.cos(start + 2 * math.pi * i / n))
            for i, r in enumerate(radii)]


def _inside_convex(points, lat, lon) -> bool | None:
    """The oracle: inside a convex polygon iff on the same side of every edge (None: too close to one)."""
    sides = []
    for (a_lat, a_lon), (b_lat, b_lon) in zip(points, points[1:] + points[:1]):
        cross = (b_lon - a_lon) * (lat - a_lat) - (b_lat - a_lat) * (lon - a_lon)
        length = math.hypot(b_lon - a_lon, b_lat - a_lat)
        if abs(cross) / length < 1e-7:
            return None
        sides.append(cross > 0)
    return all(sides) or not any(sides)


@SETTINGS
@given(_lat, _border_lon, st.floats(0.01, 0.3), st.integers(3, 12), st.floats(0, 2 * math.pi),
       st.lists(st.tuples(st.floats(-0.5, 0.5), st.floats(-0.7, 0.7)), min_size=1, max_size=40))
def test_a_convex_polygon_is_simple_and_contains_exactly_its_inside(lat, lon, size, n, start, offsets):
    points = _convex(lat, lon, [size] * n, start)
    assert geo.polygon_problem(points) is None
    assert geo.polygon_problem(points[::-1]) is None  # either orientation
    assert geo.polygon_problem(points + points[:1]) is None  # a closed ring too
    polygon = Polygon(points=tuple(points))
    lats = np.array([lat + d[0] for d in offsets])
    lons = np.array([lon + d[1] for d in offsets])
    inside = geo.contains_np(polygon, lats, lons)
    for la, lo, got in zip(lats, lons, inside):
        expected = _inside_convex(points, float(la), float(lo))
        if expected is not None:
            assert bool(got) == expected
            assert geo.point_in_polygon(float(la), float(lo), points) == expected


@SETTINGS
@given(_lat, _lon, st.floats(0.01, 0.3), st.integers(4, 12), st.floats(0, 2 * math.pi), st.data())
def test_swapping_two_neighbouring_vertices_makes_a_polygon_cross_itself(lat, lon, size, n, start, data):
    points = _convex(lat, lon, [size] * n, start)
    i = data.draw(st.integers(0, n - 1))
    j = (i + 1) % n
    crossed = list(points)
    crossed[i], crossed[j] = crossed[j], crossed[i]
    assume(len(set(crossed)) == n)
    assert geo.polygon_problem(crossed) is not None


@SETTINGS
@given(st.lists(st.tuples(st.floats(-90, 90) | st.just(52.0), st.floats(-180, 180) | st.just(5.0)),
                min_size=0, max_size=12))
def test_any_vertices_are_judged_without_error(points):
    problem = geo.polygon_problem(points)
    assert problem is None or isinstance(problem, str)
