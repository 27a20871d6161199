"""The tiny channel in the README's "Write your own channel" works as printed, inside a real hub."""

from __future__ import annotations

import re
import types
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from conftest import UTRECHT, person, start_payload
from hub.actions import Actor

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE = ROOT / "examples" / "burgerhub-pager" / "burgerhub_pager" / "__init__.py"


def readme_source() -> str:
    [source] = re.findall(r"```python\n(# burgerhub_pager/__init__\.py\n.*?)```", README, re.S)
    return source


def test_the_readme_shows_the_example_package_as_it_is():
    assert readme_source() == EXAMPLE.read_text(encoding="utf-8")


def test_the_package_says_it_is_typed():
    import tomllib

    assert (ROOT / "hub" / "py.typed").exists()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in data["tool"]["setuptools"]["package-data"]["*"]


def readme_plugin() -> types.ModuleType:
    source = readme_source()
    module = types.ModuleType("burgerhub_pager")
    exec(compile(source, "README.md (burgerhub_pager)", "exec"), module.__dict__)
    return module


class PagerNetwork:
    """A pager provider on loopback: JSON list in, ``{"ids": [...]}`` out; the first call is told to wait."""

    def __init__(self):
        self.received: list[dict] = []
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        assert request.headers["X-Api-Key"] == "k-123"
        if self.calls == 1:
            return web.Response(status=429, headers={"Retry-After": "0"})
        batch = await request.json()
        self.received += batch
        return web.json_response({"ids": [f"pg-{len(self.received) - len(batch) + i}" for i in range(len(batch))]})


async def test_the_readme_channel_delivers_through_a_hub(make_hub, tmp_path):
    network = PagerNetwork()
    app = web.Application()
    app.router.add_post("/send", network.handle)
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nchannels: [pager]\n")
    async with TestServer(app, host="127.0.0.1") as server:
        config = {
            "hub": {"routes": str(routes)},
            "channels": {"pager": {"url": str(server.make_url("/send")), "api_key": "k-123"}},
        }
        async with make_hub(plugins=[readme_plugin()], config=config) as hub:
            assert not hub.runtimes["pager"].sandbox
            for i in range(3):
                await hub.registry.register({**person(f"p{i}", *UTRECHT), "channels": ["pager"]})
            action = await hub.actions.start(start_payload(), Actor("meldkamer", "dispatcher"))
            assert await hub.engine.drain(10)
    assert network.calls == 2  # the 429 was retried
    assert sorted(m["to"] for m in network.received) == sorted({m["to"] for m in network.received})
    assert len(network.received) == 3 and all(action["id"][-6:].upper() in m["text"] for m in network.received)
