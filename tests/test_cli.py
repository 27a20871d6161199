"""The command line: `routes test` answers our user's four cases; errors name the field."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hub.cli import cli

CASES = [
    ("missing_person", "time_critical", ["matrix_boards", "sms", "voice", "app", "twitter"]),
    ("burglary", "time_critical", ["sms", "voice", "app", "twitter"]),
    ("missing_person", "non_urgent", ["matrix_boards", "email", "messenger"]),
    ("neighbourhood_inquiry", "non_urgent", ["email", "messenger"]),
]


@pytest.mark.parametrize("action_type, urgency, channels", CASES)
def test_routes_test_answers_the_four_cases(run, action_type, urgency, channels):
    result = run("routes", "test", "--type", action_type, "--urgency", urgency, "--region", "utrecht", "--json")
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)["route"]
    assert decision["channels"] == channels


def test_routes_test_human_output_explains(run):
    result = run("routes", "test", "--type", "burglary", "--urgency", "time_critical")
    assert result.exit_code == 0
    assert "channels: sms, voice, app, twitter" in result.output
    assert "matrix_boards" not in result.output.split("channels:")[1].splitlines()[0]


def test_routes_test_with_an_area_counts_participants(run, tmp_path):
    people = tmp_path / "p.csv"
    people.write_text(
        "id,language,mobile,email,channels,home_lat,home_lon,quiet_from,quiet_to\n"
        "a,nl,0612345678,a@example.org,sms;email,52.0894,5.1100,,\n"
        "b,nl,0612345679,,sms,52.0900,5.1110,00:00,23:59\n"
        "c,nl,0612345670,,sms,53.2,6.5,,\n"
    )
    assert run("participants", "import", "--verified", str(people)).exit_code == 0
    result = run("routes", "test", "--type", "burglary", "--urgency", "time_critical",
                 "--lat", "52.0894", "--lon", "5.1100", "--transport", "bicycle", "--json")
    assert result.exit_code == 0, result.output
    audience = json.loads(result.output)["audience"]
    assert audience["transport"] == "bicycle" and audience["radius_m"] > 0
    assert audience["channels"]["sms"]["targeted"] == 1
    assert audience["channels"]["sms"]["skipped"].get("quiet_hours") == 1


def test_rules_file_with_an_error_is_refused_with_the_reason(run, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nroutes:\n  - name: x\n    match: {urgency: whenever}\n    channels: [sms]\n")
    result = CliRunner().invoke(cli, ["routes", "check", str(bad)])
    assert result.exit_code != 0
    assert "urgency" in (result.output + str(result.exception))


def test_unknown_choice_names_the_option(run):
    result = CliRunner().invoke(cli, ["routes", "test", "--type", "alien", "--urgency", "non_urgent"])
    assert result.exit_code == 2 and "--type" in result.output


def test_participant_cli_and_plugins_listing(run, tmp_path):
    f = tmp_path / "me.json"
    f.write_text(json.dumps({"id": "me", "phones": [{"number": "06 12345678"}], "channels": ["sms"],
                             "addresses": [{"label": "home", "lat": 52.09, "lon": 5.11}]}))
    result = run("participants", "add", str(f))
    assert result.exit_code == 0 and "+31612345678" in result.output
    assert json.loads(result.output)["phones"][0]["verified"] is False  # until proven, or vouched for:
    result = run("participants", "add", "--verified", str(f))
    assert json.loads(result.output)["phones"][0]["verified"] is True
    result = run("plugins")
    assert result.exit_code == 0 and "sandbox" in result.output
