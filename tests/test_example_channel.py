"""The third-party channel in examples/burgerhub-pager, installed and tested from its own folder as an
outsider would: pip installs it (not editable), and pytest runs its tests there with burgerhub's
pytest plugin, which adds the channel contract test because its pyproject names the channel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "burgerhub-pager"


def test_the_example_channel_passes_its_tests_and_the_contract_from_its_own_folder(tmp_path):
    source = tmp_path / "burgerhub-pager"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    site = tmp_path / "site"
    # into a folder of its own (the test environment provides burgerhub and pytest, as its own would)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source)], check=True, capture_output=True, timeout=300)
    # the tests must run against the installed package, not the source beside them
    shutil.rmtree(source / "burgerhub_pager")
    env = {**os.environ, "PYTHONPATH": str(site), "BURGERHUB_CONFIG": ""}
    proc = subprocess.run([str(Path(sys.executable).with_name("pytest")), "-p", "no:cacheprovider", "-q", "-rs"],
                          cwd=source, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "no burgerhub_provider" not in out, out  # the deliver checks ran
    # its own two tests and the contract's, deliver checks included
    for name in ("test_pages_the_duty_officer", "test_deliver_after_429_is_transient_with_the_providers_retry_hint",
                 "test_deliver_that_times_out_is_transient_and_bounded", "test_renders_every_kind_in_both_languages"):
        assert name in _collected(source, env), name


def _collected(source: Path, env: dict) -> str:
    proc = subprocess.run([str(Path(sys.executable).with_name("pytest")), "-p", "no:cacheprovider", "--collect-only", "-q"],
                          cwd=source, env=env, capture_output=True, text=True, timeout=120)
    return proc.stdout
