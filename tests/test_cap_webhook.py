"""The webhook channel forwards an action's CAP messages to a partner's system, signed as its JSON is."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from lxml import etree

import plugins.webhook as webhook
from hub.cap.xml import NS, validate_document
from hub.testing import BACKENDS

from partners_support import UTRECHT_CENTRE, prevention

SECRET = "partner-secret-0123456789"


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


@pytest.fixture
async def partner_system():
    """A neighbouring alerting system's CAP endpoint on 127.0.0.1, recording what it gets."""
    received: list[tuple[dict, bytes]] = []
    arrived = asyncio.Event()

    async def take(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        arrived.set()
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/cap", take)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/cap")), received, arrived
    finally:
        await server.close()


async def wait_for(received, n: int, timeout: float = 10.0) -> None:
    async def until():
        while len(received) < n:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(until(), timeout)


async def test_every_message_of_an_action_reaches_the_partner_as_signed_valid_cap(make_hub, tmp_path, partner_system):
    url, received, _ = partner_system
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nchannels: [webhook]\n")
    config = {
        "hub": {"routes": str(routes)},
        "channels": {"webhook": {"allow_private_addresses": True, "endpoints": [
            {"name": "buurland", "url": url, "secret": SECRET, "format": "cap"}]}},
    }
    async with make_hub(plugins=[webhook], config=config) as hub:
        from hub.actions import Actor

        actor = Actor("landelijk", "dispatcher")
        action = await hub.actions.start({**prevention(*UTRECHT_CENTRE, type="crisis", urgency="time_critical"), "safety_advice": "Sluit ramen en deuren."}, actor)
        await wait_for(received, 1)
        await hub.actions.update(action["id"], {"description": "Het gebied is groter geworden."}, actor)
        await wait_for(received, 2)
        await hub.actions.end(action["id"], {"result": "ended_without_result"}, actor)
        await wait_for(received, 3)

    kinds = []
    for headers, body in received:
        assert headers["Content-Type"].startswith("application/cap+xml")
        mac = hmac.new(SECRET.encode(), headers["X-Burgerhub-Timestamp"].encode() + b"." + body, hashlib.sha256)
        assert hmac.compare_digest("sha256=" + mac.hexdigest(), headers["X-Burgerhub-Signature"])
        validate_document(body)
        root = etree.fromstring(body)
        kinds.append((root.findtext(f"{{{NS}}}msgType"), root.findtext(f"{{{NS}}}identifier")))
    assert kinds == [("Alert", f"{action['id']}.1"), ("Update", f"{action['id']}.2"), ("Cancel", f"{action['id']}.3")]
    last = etree.fromstring(received[-1][1])
    assert last.findtext(f"{{{NS}}}references").count(action["id"]) == 2
