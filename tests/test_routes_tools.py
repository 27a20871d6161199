"""The operator's routing tools: warnings about routes that can never match and regions that do not
exist, `routes test --at` and the whole path, reloads (API route, SIGHUP) audited with a diff."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from hub.cli import cli
from hub.routing import DEFAULT_RULES, RuleSet
from hub.routing_lint import lint
from conftest import DISPATCH, OPERATE, TOKENS, UTRECHT

SUSPECT = """\
channels: [recording]
routes:
  - name: missing
    match: {type: missing_person}
    routes:
      - name: missing-burglary
        match: {type: burglary}
        channels: [recording]
  - name: urgent
    match: {urgency: time_critical}
    channels: [recording]
  - name: urgent-robbery
    match: {urgency: time_critical, type: robbery}
    channels: [recording]
  - name: south
    match: {region: [limburg, noord_brabnt]}
    channels: [recording]
"""


def test_the_shipped_rules_have_no_warnings():
    assert lint(RuleSet.load(DEFAULT_RULES)) == []


def test_routes_that_can_never_match_and_regions_that_do_not_exist_are_named_with_their_line():
    warnings = lint(RuleSet.load(SUSPECT))
    assert [(w.field, w.line) for w in warnings] == [
        ("routes[0].routes[0]", 6), ("routes[2]", 12), ("routes[3].match.region", 16)]
    contradiction, shadowed, region = (w.reason for w in warnings)
    assert "'missing-burglary' can never match" in contradiction and "'missing'" in contradiction
    assert "'urgent-robbery' can never match" in shadowed and "taken first by 'urgent'" in shadowed
    assert "region 'noord_brabnt' does not exist" in region and "did you mean 'noord_brabant'" in region


def test_routes_check_prints_the_warnings_with_the_file_and_still_passes(run, tmp_path):
    path = tmp_path / "suspect.yaml"
    path.write_text(SUSPECT.replace("recording", "sms"))  # the CLI knows the installed channels
    result = run("routes", "check", str(path))
    assert result.exit_code == 0
    warnings = [line for line in result.output.splitlines() if "warning" in line]
    assert len(warnings) == 3 and all(line.startswith(f"{path}: warning: ") for line in warnings)
    assert "at line 12" in warnings[1]


def test_routes_test_shows_the_whole_path(run):
    result = run("routes", "test", "--type", "crisis", "--urgency", "time_critical")
    assert result.exit_code == 0, result.output
    assert "path:   root > time-critical > crisis: sms, voice, app, twitter" in result.output
    result = run("routes", "test", "--type", "missing_person", "--urgency", "time_critical")
    assert "path:   root > missing-person-signage: matrix_boards" in result.output


def test_routes_test_at_a_moment_judges_quiet_hours_then(run, tmp_path):
    people = tmp_path / "p.csv"
    people.write_text(
        "id,language,mobile,channels,home_lat,home_lon,quiet_from,quiet_to\n"
        f"night,nl,0612345678,sms,{UTRECHT[0]},{UTRECHT[1]},23:00,07:00\n"
        f"always,nl,0612345679,sms,{UTRECHT[0]},{UTRECHT[1]},,\n"
    )
    assert run("participants", "import", "--verified", str(people)).exit_code == 0
    base = ["routes", "test", "--type", "burglary", "--urgency", "time_critical",
            "--lat", str(UTRECHT[0]), "--lon", str(UTRECHT[1]), "--radius", "1000", "--json"]
    night = json.loads(run(*base, "--at", "2026-03-10T23:30+01:00").output)
    day = json.loads(run(*base, "--at", "2026-03-10T12:00+01:00").output)
    assert night["at"] == "2026-03-10T23:30:00+01:00"
    assert night["audience"]["channels"]["sms"]["targeted"] == 1
    assert night["audience"]["channels"]["sms"]["skipped"].get("quiet_hours") == 1
    assert day["audience"]["channels"]["sms"]["targeted"] == 2
    bad = CliRunner().invoke(cli, [*base, "--at", "tonight"])
    assert bad.exit_code == 2 and "--at" in bad.output


@pytest.fixture
def api(api, tmp_path):
    """The shared ``api`` fixture on a rules file of this test's own: ``(client, hub, rules path)``."""
    rules = tmp_path / "routes.yaml"
    rules.write_text("channels: [recording]\n")

    @contextlib.asynccontextmanager
    async def factory():
        async with api(hub={"routes": str(rules)}) as (client, hub):
            yield client, hub, rules

    return factory


async def test_put_saves_over_the_rules_file_and_answers_the_diff_and_warnings(api):
    async with api() as (client, hub, rules):
        r = await client.put("/v1/routes", data=SUSPECT, headers=OPERATE)
        assert r.status == 200, await r.text()
        body = await r.json()
        assert body["saved_to"] == str(rules) and rules.read_text() == SUSPECT
        assert body["changed"] and "+  - name: urgent-robbery" in body["diff"]
        assert [w["field"] for w in body["warnings"]] == ["routes[0].routes[0]", "routes[2]", "routes[3].match.region"]
        got = await (await client.get("/v1/routes", headers=DISPATCH)).json()
        assert len(got["warnings"]) == 3
        [entry] = await hub.store.list_audit(subject="routes")
        assert entry["actor"] == "beheer" and "+routes:" in entry["detail"]["diff"]
        assert entry["detail"]["saved_to"] == str(rules) and len(entry["detail"]["warnings"]) == 3


async def test_the_reload_route_rereads_the_file_for_operators_only(api):
    async with api() as (client, hub, rules):
        rules.write_text("channels: [recording]\nroutes:\n  - name: crisis\n    match: {type: crisis}\n")
        r = await client.post("/v1/routes/reload", headers=DISPATCH)
        assert r.status == 403
        r = await client.post("/v1/routes/reload", headers=OPERATE)
        assert r.status == 200, await r.text()
        body = await r.json()
        assert body["changed"] and body["saved_to"] is None and "+  - name: crisis" in body["diff"]
        assert hub.rules.current.route_names() == ["root", "crisis"]
        # a broken file is refused with the reason, and the rules in force stay
        rules.write_text("channels: [recording\n")
        r = await client.post("/v1/routes/reload", headers=OPERATE)
        assert r.status in (400, 422) and "line" in (await r.text())
        assert hub.rules.current.route_names() == ["root", "crisis"]
        verbs = [(e["verb"], e["detail"]["source"].split(" (")[0]) for e in await hub.store.list_audit(subject="routes")]
        assert verbs == [("routes.reload", "POST /v1/routes/reload")]


async def test_a_dry_run_through_the_api_takes_a_moment(api):
    async with api() as (client, hub, _):
        body = {"type": "burglary", "urgency": "time_critical", "at": "2026-03-10T23:30:00+01:00",
                "area": {"type": "circle", "lat": UTRECHT[0], "lon": UTRECHT[1], "radius_m": 500}}
        r = await client.post("/v1/routes/test", json=body, headers=DISPATCH)
        assert r.status == 200, await r.text()
        assert (await r.json())["at"] == "2026-03-10T23:30:00+01:00"
        r = await client.post("/v1/routes/test", json={**body, "at": "tonight"}, headers=DISPATCH)
        assert r.status == 422 and (await r.json())["field"] == "at"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_sighup_reloads_the_rules_file_of_a_running_hub(tmp_path):
    rules = tmp_path / "routes.yaml"
    rules.write_text("channels: [sms]\n")
    port = _free_port()
    config = tmp_path / "burgerhub.toml"
    config.write_text(f'[hub]\ndata_dir = "{tmp_path / "var"}"\nroutes = "{rules}"\n'
                      f'[api]\nport = {port}\n[[api.tokens]]\nrole = "operator"\ntoken = "{TOKENS[1]["token"]}"\n')
    burgerhub = Path(sys.executable).with_name("burgerhub")
    proc = subprocess.Popen([str(burgerhub), "--config", str(config), "serve"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "BURGERHUB_CONFIG": ""})
    try:
        async with aiohttp.ClientSession(headers=OPERATE) as http:
            url = f"http://127.0.0.1:{port}/v1/routes"

            async def rules_in_force() -> str | None:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url) as r:
                        return (await r.json())["rules"] if r.status == 200 else None
                return None

            deadline = time.monotonic() + 30
            while await rules_in_force() is None:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else "hub did not start"
                await asyncio.sleep(0.2)
            rules.write_text("channels: [sms, email]\n")
            proc.send_signal(signal.SIGHUP)
            while (await rules_in_force()) != "channels: [sms, email]\n":
                assert time.monotonic() < deadline, "SIGHUP did not reload the rules"
                await asyncio.sleep(0.1)
            async with http.get(f"http://127.0.0.1:{port}/v1/audit") as r:
                [entry] = [e for e in (await r.json())["audit"] if e["verb"] == "routes.reload"]
            assert entry["actor"] == "SIGHUP" and "+channels: [sms, email]" in entry["detail"]["diff"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
