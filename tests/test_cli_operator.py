"""The operator's command line: a port in use is one line naming the port and the option; the demo
says where the console and the tokens are; the audit shows readable times; a crisis from the CLI."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import cli

BURGERHUB = Path(sys.executable).with_name("burgerhub")


@pytest.fixture
def taken_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_port_in_use_is_one_line_naming_the_port_and_the_option(command, config_file, taken_port, tmp_path):
    proc = subprocess.run(
        [str(BURGERHUB), "--config", str(config_file), command, "--port", str(taken_port), *(
            ["--participants", "5", "--exit"] if command == "demo" else [])],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env={**os.environ, "BURGERHUB_CONFIG": ""},
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if line.strip()]
    assert str(taken_port) in line and "--port" in line and "in use" in line


def test_the_demo_says_where_the_console_and_the_tokens_are(config_file, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [str(BURGERHUB), "--config", str(config_file), "demo", "--port", str(port), "--participants", "300", "--exit"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env={**os.environ, "BURGERHUB_CONFIG": ""},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"dispatcher console: http://127.0.0.1:{port}/console/" in out
    assert f"tokens are kept in {tmp_path / 'var' / 'tokens.json'}" in out
    tokens = json.loads((tmp_path / "var" / "tokens.json").read_text())
    assert tokens["dispatcher"] in out
    # the closing message says where to go next, and the demo shows it whole
    assert "Bel 112 bij spoed, anders 0900 8844." in out


def test_the_audit_shows_readable_times(run):
    started = run("actions", "start", "--type", "crisis", "--urgency", "time_critical",
                  "--description", "Grote brand op Lage Weide, veel rook.", "--lat", "52.1", "--lon", "5.08",
                  "--radius", "3000", "--safety-advice", "Houd ramen en deuren gesloten", "--nl-alert")
    assert started.exit_code == 0, started.output
    action = json.loads(started.output)
    assert action["safety_advice"] == "Houd ramen en deuren gesloten" and action["nl_alert"] is True
    out = run("audit").output
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d  cli ", out, re.M), out
    assert action["id"] in out


def test_a_crisis_without_safety_advice_is_refused_naming_the_field(run):
    result = CliRunner().invoke(cli, ["actions", "start", "--type", "crisis", "--urgency", "time_critical",
                                      "--description", "Brand.", "--lat", "52.1", "--lon", "5.08", "--radius", "900"])
    assert result.exit_code != 0
    assert "safety_advice" in str(result.exception) + result.output
