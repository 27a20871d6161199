"""The SMS channel inside a real hub: engine, ledger, HTTP app and the loopback Twilio API."""

from __future__ import annotations

from typing import AsyncIterator

import pytest

import plugins.sms
from hub.actions import Actor
from hub.testing import bound_socket, serving
from plugins.sms.loopback import LoopbackSmsProvider

DISPATCHER = Actor("meldkamer", "dispatcher")
MOBILE = "+31612345678"


@pytest.fixture
async def provider() -> AsyncIterator[LoopbackSmsProvider]:
    async with LoopbackSmsProvider() as p:
        yield p


async def test_an_action_reaches_a_participant_by_sms_and_the_report_and_reply_come_back(make_hub, provider, tmp_path):
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nchannels: [sms]\n")
    sock, public_url = bound_socket()
    config = {
        "hub": {"routes": str(routes), "public_url": public_url},
        "channels": {
            "sms": {
                "base_url": provider.base_url,
                "account_sid": provider.account_sid,
                "auth_token": provider.auth_token,
                "sender": "+3197010000000",
            }
        },
    }
    async with make_hub(plugins=[plugins.sms], config=config) as hub, serving(hub, sock):
        await hub.registry.register(
            {
                "id": "p1",
                "language": "nl",
                "phones": [{"number": MOBILE, "kind": "mobile"}],
                "channels": ["sms"],
                "addresses": [{"label": "home", "lat": 52.0894, "lon": 5.1100}],
            }
        )
        action = await hub.actions.start(
            {
                "type": "missing_person",
                "urgency": "time_critical",
                "description": "Jongen van 5, rode jas, blauwe broek.",
                "area": {"type": "circle", "lat": 52.0894, "lon": 5.1100, "radius_m": 2000},
            },
            DISPATCHER,
        )
        assert await hub.engine.drain(10)
        [message] = provider.messages
        assert message["To"] == MOBILE and "Jongen van 5, rode jas, blauwe broek." in message["Body"]
        assert message["Body"].endswith("Bel gratis 0800 0011.")
        assert message["StatusCallback"] == f"{public_url}/v1/channels/sms/status"
        [row] = await hub.store.ledger_rows(action["id"])
        assert (row["status"], row["provider_id"]) == ("sent", message["sid"])

        assert await provider.twilio_status(message["sid"], "delivered") == 204
        [row] = await hub.store.ledger_rows(action["id"])
        assert row["status"] == "delivered"

        status, body = await provider.twilio_reply(f"{public_url}/v1/channels/sms/inbound", MOBILE, "Gezien bij de Dom")
        assert status == 200 and body.endswith("<Response/>")
        [tip] = await hub.store.list_tips(action["id"])
        assert (tip["text"], tip["channel"], tip["sender"]) == ("Gezien bij de Dom", "sms", MOBILE)

        # "STOP" is not a tip: it switches SMS off for that participant, other channels stay
        await hub.registry.update("p1", {**(await hub.registry.get("p1")), "channels": ["sms", "email"]})
        status, _ = await provider.twilio_reply(f"{public_url}/v1/channels/sms/inbound", MOBILE, "stop")
        assert status == 200 and len(await hub.store.list_tips(action["id"])) == 1
        assert (await hub.registry.get("p1"))["channels"] == ["email"]
        # and a STOP from a number the hub never texted changes nothing
        status, _ = await provider.twilio_reply(f"{public_url}/v1/channels/sms/inbound", "+31687654321", "STOP")
        assert status == 200
