"""The voice channel inside a real hub: a landline is called, an unanswered call goes back in the queue."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

from aiohttp import web

import plugins.voice
from hub.actions import Actor
from hub.api import create_app
from hub.testing import bound_socket
from plugins.voice.loopback import LoopbackTwilioCalls

DISPATCHER = Actor("meldkamer", "dispatcher")


def participant(pid: str, number: str, kind: str) -> dict:
    return {
        "id": pid,
        "language": "nl",
        "phones": [{"number": number, "kind": kind}],
        "channels": ["voice"],
        "addresses": [{"label": "home", "lat": 52.0894, "lon": 5.1100}],
    }


async def test_calls_landlines_and_requeues_an_unanswered_call(make_hub, tmp_path):
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nchannels: [voice]\n")
    sock, public_url = bound_socket()
    async with LoopbackTwilioCalls() as twilio:
        config = {
            "hub": {"routes": str(routes), "public_url": public_url},
            "channels": {
                "voice": {
                    "base_url": twilio.base_url,
                    "account_sid": twilio.account_sid,
                    "auth_token": twilio.auth_token,
                    "caller_id": "+31880011000",
                }
            },
        }
        async with make_hub(plugins=[plugins.voice], config=config) as hub:
            runner = web.AppRunner(create_app(hub, manage_hub=False), access_log=None)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            try:
                await hub.registry.register(participant("p1", "+31302345678", "landline"))
                await hub.registry.register(participant("p2", "+31612345678", "mobile"))
                action = await hub.actions.start(
                    {
                        "type": "missing_person",
                        "urgency": "time_critical",
                        "description": "Meisje van 7, gele regenjas.",
                        "area": {"type": "circle", "lat": 52.0894, "lon": 5.1100, "radius_m": 2000},
                    },
                    DISPATCHER,
                )
                assert await hub.engine.drain(10)
                calls = {c["To"]: c for c in twilio.calls}
                assert set(calls) == {"+31302345678", "+31612345678"}
                for call in calls.values():
                    assert "Meisje van 7, gele regenjas." in "".join(ET.fromstring(call["Twiml"]).itertext())
                    assert call["StatusCallback"] == f"{public_url}/v1/channels/voice/status?attempt=1"

                assert await twilio.status(calls["+31612345678"]["sid"], "completed", answered_by="human") == 204
                assert await twilio.status(calls["+31302345678"]["sid"], "no-answer") == 204
                rows = {r["address"]: r for r in await hub.store.ledger_rows(action["id"])}
                assert rows["+31612345678"]["status"] == "delivered"
                # not answered: back in the queue for another call later (the hub's retry delay)
                assert rows["+31302345678"]["status"] == "queued" and rows["+31302345678"]["reason"] == "no-answer"
                due = await hub.store.next_due("voice")
                assert due is not None and due > time.time() + 10
            finally:
                await runner.cleanup()
