"""The app first, SMS only if the app has not confirmed delivery in time: a participant's preference,
with the operator's time, never for a crisis; through a real hub, on both backends."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import plugins.app
import plugins.sms
from app_push_service import PushService, b64u
from hub.actions import Actor
from hub.testing import BACKENDS, bound_socket, serving

SUBJECT = "mailto:beheer@burgernet.example"
_VAPID = ec.generate_private_key(ec.SECP256R1())
SETTINGS = {
    "vapid_private_key": b64u(_VAPID.private_numbers().private_value.to_bytes(32, "big")),
    "vapid_subject": SUBJECT,
    "allowed_push_hosts": ["127.0.0.1"],
    "allow_insecure_endpoints": True,
}
VAPID_PUBLIC = b64u(_VAPID.public_key().public_bytes(serialization.Encoding.X962,
                                                      serialization.PublicFormat.UncompressedPoint))
DISPATCHER = Actor("meldkamer", "dispatcher")
UTRECHT = (52.0894, 5.1100)
WAIT = 1.5


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


def person(pid: str, mobile: str, *, app_first: bool) -> dict:
    return {"id": pid, "phones": [{"number": mobile}], "channels": ["app", "sms"], "app_first": app_first,
            "addresses": [{"label": "home", "lat": UTRECHT[0], "lon": UTRECHT[1]}]}


def start(action_type: str = "burglary", **extra) -> dict:
    return {"type": action_type, "urgency": "time_critical", "description": "Man, zwarte jas, grijze fiets.",
            "area": {"type": "circle", "lat": UTRECHT[0], "lon": UTRECHT[1], "radius_m": 1500}, **extra}


async def until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (result := await check()):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)
    return result


async def test_sms_waits_for_the_app_and_goes_only_where_the_app_did_not_confirm(make_hub, tmp_path):
    routes = tmp_path / "routes.yaml"
    routes.write_text("channels: [app, sms]\n")
    sock, base = bound_socket()
    config = {"hub": {"routes": str(routes), "public_url": base, "app_first_seconds": WAIT},
              "channels": {"app": SETTINGS, "sms": {"sandbox": True}}}
    async with PushService(vapid_public_key=VAPID_PUBLIC, subject=SUBJECT) as push, \
            make_hub(plugins=[plugins.app, plugins.sms], config=config) as hub, serving(hub, sock), \
            aiohttp.ClientSession() as http:
        installs = {}
        for pid, mobile, app_first in [("confirms", "+31612340001", True), ("silent", "+31612340002", True),
                                       ("both", "+31612340003", False)]:
            _, token = await hub.registry.register(person(pid, mobile, app_first=app_first), issue_token=True)
            device = push.new_device()
            body = {**device.subscription(push.base_url), "regions": [plugins.app.regions.cell_of(*UTRECHT)]}
            async with http.post(f"{base}/v1/channels/app/subscriptions", json=body,
                                 headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 201, await r.text()
                installs[pid] = (device.token, (await r.json())["id"])
        async with http.post(f"{base}/v1/channels/app/subscriptions", json=body,
                             headers={"Authorization": "Bearer pt_not-a-token"}) as r:
            assert r.status == 401 and (await r.json())["field"] == "Authorization"

        began = time.monotonic()
        action = await hub.actions.start(start(), DISPATCHER)
        await until(lambda: asyncio.sleep(0, len(push.received) == 3), 10, "the app pushes")
        # the app of "confirms" says it got the message, naming it as its payload does
        token, install = installs["confirms"]
        [payload] = [m.payload for m in push.received if m.token == token]
        async with http.post(f"{base}/v1/channels/app/received", json={
                "install": install, "action": payload["action"], "kind": payload["kind"],
                "version": payload["version"]}) as r:
            assert r.status == 200 and (await r.json()) == {"confirmed": True}
        async with http.post(f"{base}/v1/channels/app/received", json={
                "install": "not-an-install", "action": action["id"], "kind": "start", "version": 1}) as r:
            assert r.status == 404

        async def sms():
            rows = {r["participant_id"]: r for r in await hub.store.ledger_rows(action["id"]) if r["channel"] == "sms"}
            return rows if all(r["status"] not in ("queued", "sending") for r in rows.values()) else None

        # who did not choose the app first gets the SMS at once; the others wait for the app
        early = {r["participant_id"]: r for r in await hub.store.ledger_rows(action["id"]) if r["channel"] == "sms"}
        assert early["silent"]["status"] == "queued"
        rows = await until(sms, 10, "the SMS rows are settled")
        assert time.monotonic() - began >= WAIT
        assert rows["confirms"]["status"] == "skipped" and rows["confirms"]["reason"] == "app_confirmed"
        assert rows["silent"]["status"] in ("sent", "delivered")
        assert rows["both"]["status"] in ("sent", "delivered") and rows["both"]["attempts"] == 1  # never held back
        apps = {r["participant_id"]: r["status"] for r in await hub.store.ledger_rows(action["id"]) if r["channel"] == "app"}
        assert apps == {"confirms": "delivered", "silent": "sent", "both": "sent"}

        # never for a crisis: every channel at once
        crisis = await hub.actions.start(start("crisis", safety_advice="Houd ramen en deuren gesloten"), DISPATCHER)
        rows = await until(lambda: sms_of(hub, crisis["id"]), WAIT - 0.2, "a crisis SMS goes out without waiting")
        assert {r["status"] for r in rows.values()} <= {"sent", "delivered"}


async def sms_of(hub, action_id):
    rows = {r["participant_id"]: r for r in await hub.store.ledger_rows(action_id) if r["channel"] == "sms"}
    return rows if rows and all(r["status"] in ("sent", "delivered") for r in rows.values()) else None
