"""The participant app's pure functions (``static/js/geo.js``, shared by the page and the service
worker) under node's own test runner: ``tests/js/*.test.mjs``."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

NODE = shutil.which("node")
JS_TESTS = Path(__file__).resolve().parents[1] / "js"


@pytest.mark.skipif(NODE is None, reason="needs node (apt-get install nodejs)")
async def test_the_app_s_pure_functions_pass_under_node():
    files = sorted(str(p) for p in JS_TESTS.glob("*.test.mjs"))
    assert files
    proc = await asyncio.create_subprocess_exec(NODE, "--test", *files, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()
