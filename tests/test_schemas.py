"""The schema loader: every shipped schema compiles, errors name the field, validators are compiled once."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import jsonschema
import pytest

from hub import schemas
from hub.errors import ConfigError, ValidationError
from hub.models import ActionType, Domain, TransportMode, Urgency
from hub.schemas import SchemaSet

REPO_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"

AREA = {
    "$defs": {"transport": {"enum": [m.value for m in TransportMode]}},
    "type": "object",
    "required": ["lat", "lon"],
    "additionalProperties": False,
    "properties": {
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "lon": {"type": "number"},
        "radius_m": {"type": "number", "exclusiveMinimum": 0},
        "transport": {"$ref": "#/$defs/transport"},
    },
}
ACTION = {
    "type": "object",
    "required": ["type", "area"],
    "properties": {
        "type": {"enum": ["burglary", "missing_person"]},
        "area": {"$ref": "area.schema.json"},
        "reporter": {"type": "string", "format": "email"},
        "started_at": {"type": "string", "format": "date-time"},
        "photo": {"type": "string", "format": "uri"},
        "code": {"type": "string", "pattern": "^[0-9]{4}$", "x-reason": "must be four digits"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
    },
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "area.schema.json").write_text(json.dumps(AREA))
    (tmp_path / "test.action.schema.json").write_text(json.dumps(ACTION))
    (tmp_path / "README.md").write_text("not a schema")
    return tmp_path


def valid_action(**overrides):
    return {"type": "burglary", "area": {"lat": 52.1, "lon": 5.1, "radius_m": 500}, **overrides}


def test_every_shipped_schema_is_valid_and_compiles():
    names = schemas.names()
    assert "routing" in names
    assert names == sorted(p.name.removesuffix(".schema.json") for p in REPO_SCHEMAS.glob("*.schema.json"))
    for name in names:
        validator = schemas.validator(name)
        jsonschema.Draft202012Validator.check_schema(validator.schema)
        assert validator.format_checker is not None


def test_the_shipped_folder_is_found_beside_the_package():
    assert schemas.default_directory() == REPO_SCHEMAS


def test_names_lists_only_schema_files(folder):
    assert SchemaSet(folder).names() == ["area", "test.action"]


def test_valid_data_passes(folder):
    SchemaSet(folder).validate("test.action", valid_action(reporter="a@example.org", code="1234"))


@pytest.mark.parametrize(
    "data, field, reason",
    [
        (valid_action(area={"lat": 52, "lon": 5, "transport": "plane"}), "area.transport",
         "'plane' is not one of ['on_foot', 'bicycle', 'scooter', 'car']"),
        (valid_action(area={"lat": 52, "lon": 5, "radius_m": -1}), "area.radius_m",
         "-1 is less than or equal to the minimum of 0"),
        (valid_action(area={"lon": 5}), "area.lat", "is required"),
        ({"area": {"lat": 1, "lon": 1}}, "type", "is required"),
        (valid_action(area={"lat": 52, "lon": 5, "raduis_m": 5}), "area.raduis_m",
         "is not an allowed field (did you mean 'radius_m'?)"),
        (valid_action(tags=["ok", "toolong"]), "tags[1]", "'toolong' is too long"),
        (valid_action(code="12a4"), "code", "must be four digits"),
        ([], "(root)", "[] is not of type 'object'"),
    ],
)
def test_errors_name_the_field_and_the_reason(folder, data, field, reason):
    with pytest.raises(ValidationError) as e:
        SchemaSet(folder).validate("test.action", data)
    assert (e.value.field, e.value.reason) == (field, reason)
    assert str(e.value) == f"{field}: {reason}"


@pytest.mark.parametrize(
    "field, value",
    [("reporter", "not-an-address"), ("started_at", "yesterday at noon"), ("photo", "not a uri")],
)
def test_formats_are_checked(folder, field, value):
    with pytest.raises(ValidationError) as e:
        SchemaSet(folder).validate("test.action", valid_action(**{field: value}))
    assert e.value.field == field
    assert "is not a" in e.value.reason


def test_every_error_is_listed(folder):
    with pytest.raises(ValidationError) as e:
        SchemaSet(folder).validate("test.action", {"type": "plane", "area": {"lat": 99}, "code": "x"})
    fields = [f for f, _ in e.value.errors]
    assert set(fields) == {"type", "area.lat", "area.lon", "code"}
    assert e.value.as_dict()["errors"][0] == {"field": fields[0], "reason": e.value.errors[0][1]}


def test_each_schema_is_compiled_once_and_cached(folder):
    ss = SchemaSet(folder)
    validator = ss.validator("test.action")
    (folder / "test.action.schema.json").unlink()
    (folder / "area.schema.json").unlink()
    assert ss.validator("test.action") is validator
    ss.validate("test.action", valid_action())  # the $ref'd schema was resolved and kept too


def test_the_module_api_caches_too():
    assert schemas.validator("routing") is schemas.validator("routing")


def test_unknown_and_broken_schemas_are_config_errors(folder):
    ss = SchemaSet(folder)
    with pytest.raises(ConfigError, match="no schema 'nope.schema.json'"):
        ss.validate("nope", {})
    with pytest.raises(ConfigError, match="invalid schema name"):
        ss.validator("../etc/passwd")
    (folder / "broken.schema.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        ss.validator("broken")
    (folder / "wrong.schema.json").write_text(json.dumps({"type": "banana"}))
    with pytest.raises(ConfigError, match="wrong.schema.json is invalid"):
        ss.validator("wrong")


def test_schemas_load_from_an_installed_package_resource(tmp_path):
    """The wheel-install path: schemas reached through importlib.resources (here: inside a zip)."""
    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("schemas/area.schema.json", json.dumps(AREA))
        z.writestr("schemas/test.action.schema.json", json.dumps(ACTION))
    ss = SchemaSet(zipfile.Path(archive, "schemas/"))
    assert ss.names() == ["area", "test.action"]
    with pytest.raises(ValidationError) as e:
        ss.validate("test.action", valid_action(area={"lat": 1, "lon": 1, "transport": "plane"}))
    assert e.value.field == "area.transport"


def test_routing_schema_enums_match_the_models():
    defs = schemas.schema("routing")["$defs"]
    assert defs["actionType"]["enum"] == [t.value for t in ActionType]
    assert defs["urgency"]["enum"] == [u.value for u in Urgency]
    assert defs["domain"]["enum"] == [d.value for d in Domain]


def test_an_action_view_survives_a_round_trip_through_json():
    import json

    from hub.models import Circle, Polygon, Result, TransportMode, action_from_dict, action_to_dict
    from hub.testing import make_action

    for action in (
        make_action(area=Circle(lat=52.09, lon=5.11, radius_m=1500.0, transport=TransportMode.BICYCLE)),
        make_action(area=Polygon(points=((52.0, 5.0), (52.1, 5.0), (52.1, 5.2))), result=Result.FOUND),
    ):
        assert action_from_dict(json.loads(json.dumps(action_to_dict(action)))) == action
