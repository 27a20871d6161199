"""The v1 signage contract: schemas, topics, payload builders, the README's example."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
from matrix_boards_support import OPEN_VALIDATORS, SCHEMAS, VALIDATORS, validate_message

from hub.models import Circle, Polygon, TransportMode
from hub.testing import make_action
from plugins.matrix_boards.contract import (
    Layout,
    Topics,
    action_from_record,
    action_to_record,
    state_payload,
    status_payload,
)

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schemas_are_valid_2020_12(name):
    jsonschema.Draft202012Validator.check_schema(SCHEMAS[name])
    assert SCHEMAS[name]["$id"] == f"urn:burgerhub:signage:v1:{name}"


def test_topics():
    t = Topics("city/hub")
    assert t.state("utrecht") == "city/hub/v1/signs/utrecht/state"
    assert t.events("utrecht") == "city/hub/v1/signs/utrecht/events"
    assert t.status == "city/hub/v1/hub/status"
    assert t.region("zeist") == "city/hub/v1/signs/zeist/#"
    assert t.parse("city/hub/v1/signs/zeist/state") == ("zeist", "state")
    assert t.parse("city/hub/v1/hub/status") == ("", "status")
    assert t.parse("city/hub/v1/signs/zeist/other") is None
    assert t.parse("burgerhub/v1/signs/zeist/state") is None


def test_nothing_active_is_an_empty_payload():
    assert state_payload("utrecht", 3, [], Layout(), datetime.now(timezone.utc)) == b""


def test_status_payloads_validate():
    VALIDATORS["status"].validate(json.loads(status_payload("offline")))
    online = json.loads(status_payload("online", datetime(2026, 1, 1, 12, tzinfo=timezone.utc)))
    assert online == {"schema_version": "1.0", "status": "online", "since": "2026-01-01T12:00:00Z"}
    VALIDATORS["status"].validate(online)


def test_closed_validation_catches_undocumented_fields_open_schema_allows_them():
    payload = json.loads(status_payload("online"))
    payload["uptime"] = 5
    assert not VALIDATORS["status"].is_valid(payload)
    assert OPEN_VALIDATORS["status"].is_valid(payload)  # what controllers use: forward compatible


@pytest.mark.parametrize(
    "area",
    [Circle(lat=52.1, lon=5.1, radius_m=900, transport=TransportMode.BICYCLE),
     Polygon(points=((52.0, 5.0), (52.1, 5.0), (52.1, 5.1)))],
)
def test_action_records_round_trip(area):
    action = make_action(area=area, expires_at=datetime(2026, 11, 23, 20, tzinfo=timezone.utc), version=3)
    record = action_to_record(action)
    assert json.loads(json.dumps(record)) == record  # storable as JSON
    assert action_from_record(record) == action


def test_readme_example_state_follows_the_schema():
    blocks = re.findall(r"```json\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    example = json.loads(blocks[0])
    validate_message(Topics(), Topics().state(example["region"]), json.dumps(example).encode())
