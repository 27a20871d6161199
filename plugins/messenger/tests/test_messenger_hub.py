"""The Messenger channel inside a real hub: subscribe over the hub's webhook, get an alert, tip, closing."""

from __future__ import annotations


import aiohttp
from aiohttp.test_utils import TestServer

import plugins.messenger
from hub.actions import Actor
from hub.testing import bound_socket, serving
from messenger_testkit import APP_SECRET, PAGE_ID, PAGE_TOKEN, VERIFY_TOKEN, FakeGraph, message_event, signed

DISPATCHER = Actor("meldkamer", "dispatcher")


async def test_subscribe_in_the_conversation_then_alert_tip_and_closing(make_hub, tmp_path):
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nchannels: [messenger]\n")
    sock, public_url = bound_socket()
    graph = FakeGraph()
    async with TestServer(graph.app(), host="127.0.0.1") as graph_server:
        config = {
            "hub": {"routes": str(routes), "public_url": public_url},
            "channels": {"messenger": {
                "page_access_token": PAGE_TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN,
                "page_id": PAGE_ID, "base_url": str(graph_server.make_url("")).rstrip("/"),
            }},
        }
        async with make_hub(plugins=[plugins.messenger], config=config) as hub, serving(hub, sock):
            channel = hub.runtimes["messenger"].channel
            webhook = f"{public_url}/v1/channels/messenger/webhook"
            async with aiohttp.ClientSession() as http:
                raw, headers = signed(message_event("4001", "3511 AB"))
                async with http.post(webhook, data=raw, headers=headers) as resp:
                    assert resp.status == 200
                await channel.conversation.idle()
                assert "aangemeld" in graph.texts_to("4001")[0]

                action = await hub.actions.start({
                    "type": "missing_person", "urgency": "time_critical",
                    "description": "Jongen van 5, rode jas, blauwe broek.",
                    "area": {"type": "circle", "lat": 52.0894, "lon": 5.1100, "radius_m": 1000},
                }, DISPATCHER)
                assert await hub.engine.drain(10)
                alert = graph.sent[-1]
                assert alert["messaging_type"] == "UPDATE" and alert["recipient"] == {"id": "4001"}
                assert "Jongen van 5, rode jas, blauwe broek." in alert["message"]["text"]
                [row] = await hub.store.ledger_rows(action["id"])
                assert row["status"] == "sent" and row["address"] == "4001"

                raw, headers = signed(message_event("4001", "Ik zie hem bij de Neude"))
                async with http.post(webhook, data=raw, headers=headers) as resp:
                    assert resp.status == 200
                await channel.conversation.idle()
                [tip] = await hub.store.list_tips(action["id"])
                assert (tip["text"], tip["channel"], tip["sender"]) == ("Ik zie hem bij de Neude", "messenger", "4001")

                await hub.actions.end(action["id"], {"result": "found"}, DISPATCHER)
                assert await hub.engine.drain(10)
                assert "beëindigd" in graph.texts_to("4001")[-1]
