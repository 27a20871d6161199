"""Shared by the partner tests: a hub with the example organisations, a person's token in each, and
helpers to talk to its API."""

from __future__ import annotations

import contextlib
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from hub.api import create_app
from hub.organisations import load_file
from hub.testing import RecordingPlugin

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "organisations.yaml"
NATIONAL_DISPATCH = {"Authorization": "Bearer dispatcher-token-0123456789"}
NATIONAL_OPERATE = {"Authorization": "Bearer operator-token-01234567890"}
TOKENS = [
    {"name": "landelijk", "role": "dispatcher", "token": "dispatcher-token-0123456789"},
    {"name": "beheer", "role": "operator", "token": "operator-token-01234567890"},
]

#: inside the example municipality of Utrecht, and in Zeist next door
UTRECHT_CENTRE = (52.0907, 5.1214)
ZEIST = (52.0893, 5.2330)
#: a polygon next door (Zeist), and one inside Utrecht
ZEIST_POLYGON = [[52.10, 5.21], [52.10, 5.26], [52.07, 5.26], [52.07, 5.21]]
UTRECHT_POLYGON = [[52.10, 5.10], [52.10, 5.13], [52.08, 5.13], [52.08, 5.10]]


def prevention(lat: float, lon: float, radius_m: float = 500, **kw) -> dict:
    body = {
        "type": "prevention",
        "urgency": "non_urgent",
        "description": "Er wordt in uw wijk vaker ingebroken: sluit ramen en deuren als u weggaat.",
        "area": {"type": "circle", "lat": lat, "lon": lon, "radius_m": radius_m},
    }
    body.update(kw)
    return body


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def partner_hub(make_hub, routes_file: str, **config):
    """``(client, hub, tokens)``: the example organisations loaded; ``tokens[org]`` a dispatcher's token
    and ``tokens[org + ':operator']`` an operator's where the organisation has that role."""
    cfg = {"hub": {"routes": routes_file}, "api": {"tokens": TOKENS},
           "channels": {"recording": {"token": "x"}}, **config}
    async with make_hub(plugins=[RecordingPlugin()], config=cfg) as hub:
        tokens = {}
        for item in load_file(EXAMPLES):
            org = await hub.organisations.put(item)
            _, tokens[org.id] = await hub.organisations.issue_token(org.id, "Dienstdoende", "dispatcher")
            if "operator" in org.roles:
                _, tokens[org.id + ":operator"] = await hub.organisations.issue_token(org.id, "Beheerder", "operator")
        client = TestClient(TestServer(create_app(hub, manage_hub=False)))
        await client.start_server()
        try:
            yield client, hub, tokens
        finally:
            await client.close()
