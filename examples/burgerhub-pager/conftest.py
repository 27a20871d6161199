"""A pager network on 127.0.0.1 for the tests, and where the contract test finds a provider.

At the project's root, so its fixtures reach burgerhub's contract test too (a conftest.py in tests/
reaches only the tests in that folder).
"""

import pytest
from aiohttp import web

from hub.contract import ProviderTarget


class PagerNetwork:
    """The pager network's documented API: a JSON list of {to, text} in, {"ids": [...]} out."""

    def __init__(self):
        self.received = []
        self.url = ""

    async def send(self, request):
        if request.headers.get("X-Api-Key") != "k-123":
            return web.json_response({"error": "unknown key"}, status=401)
        batch = await request.json()
        self.received += batch
        first = len(self.received) - len(batch)
        return web.json_response({"ids": [f"pg-{first + i}" for i in range(len(batch))]})


@pytest.fixture
async def pager_server():
    network = PagerNetwork()
    app = web.Application()
    app.router.add_post("/send", network.send)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    network.url = f"http://{host}:{port}/send"
    yield network
    await runner.cleanup()


@pytest.fixture
def burgerhub_provider():
    """How burgerhub's contract test points this channel at its misbehaving provider."""
    return ProviderTarget(settings=lambda url, timeout: {"url": url, "api_key": "k-123", "timeout": timeout},
                          address="+31612345678")
