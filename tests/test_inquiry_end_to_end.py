"""A non-urgent neighbourhood inquiry through the HTTP API, on the shipped routing rules.

E-mail (a real SMTP server, aiosmtpd) and Messenger (a loopback Graph API) subscribers in the area get the
inquiry and nobody else does; a reply through the e-mail form shows up on the action; the follow-up
reaches exactly everyone who got the inquiry, on the channel that reached them.
"""

from __future__ import annotations

import re

import aiohttp
from aiohttp.test_utils import TestServer

from hub.testing import bound_socket, serving
from plugins.email.tests.email_testkit import Collector, smtp_server
from plugins.messenger.tests.messenger_testkit import (
    APP_SECRET,
    PAGE_ID,
    PAGE_TOKEN,
    VERIFY_TOKEN,
    FakeGraph,
    message_event,
    signed,
)

DISPATCHER = {"Authorization": "Bearer dispatcher-token-0123456789"}
TOKENS = [{"name": "meldkamer", "role": "dispatcher", "token": "dispatcher-token-0123456789"}]
NEUDE = (52.0925, 5.1195)  # Utrecht, inside the inquiry's area
DAM = (52.3731, 4.8926)  # Amsterdam, far outside


def participant(pid, where, channels, *, email=None, phone=None):
    return {
        "id": pid,
        "language": "nl",
        "channels": channels,
        **({"email": email} if email else {}),
        **({"phones": [{"number": phone, "kind": "mobile"}]} if phone else {}),
        "addresses": [{"label": "home", "lat": where[0], "lon": where[1]}],
    }


async def test_an_inquiry_reaches_mail_and_messenger_in_its_area_only_and_everyone_gets_the_follow_up(make_hub):
    mails, graph = Collector(), FakeGraph()
    sock, base = bound_socket()  # where the links in messages point
    with smtp_server(mails) as smtp:
        async with TestServer(graph.app(), host="127.0.0.1") as graph_server:
            config = {
                "hub": {"public_url": base},
                "api": {"tokens": TOKENS},
                "channels": {
                    "email": {"host": "127.0.0.1", "port": smtp.port, "security": "none",
                              "from_address": "noreply@burgernet.example.org", "timeout": 5},
                    "messenger": {"page_access_token": PAGE_TOKEN, "app_secret": APP_SECRET,
                                  "verify_token": VERIFY_TOKEN, "page_id": PAGE_ID,
                                  "base_url": str(graph_server.make_url("")).rstrip("/")},
                },
            }
            async with make_hub(entry_points=True, config=config) as hub, serving(hub, sock):
                await run_inquiry(hub, base, mails, graph)


async def run_inquiry(hub, base, mails, graph):
    for p in (
        participant("near-mail", NEUDE, ["email"], email="ann@example.net"),
        participant("near-both", NEUDE, ["email", "sms"], email="bob@example.net", phone="+31612345678"),
        participant("near-sms", NEUDE, ["sms"], phone="+31687654321"),
        participant("far-mail", DAM, ["email"], email="cas@example.net"),
    ):
        await hub.registry.register(p)
    messenger = hub.runtimes["messenger"].channel
    async with aiohttp.ClientSession() as http:
        for psid, postcode in (("4001", "3511 AB"), ("4002", "1012 AB")):  # Utrecht centre, Amsterdam centre
            raw, headers = signed(message_event(psid, postcode))
            async with http.post(f"{base}/v1/channels/messenger/webhook", data=raw, headers=headers) as r:
                assert r.status == 200
        await messenger.conversation.idle()
        graph.sent.clear()

        start = {
            "type": "neighbourhood_inquiry",
            "urgency": "non_urgent",
            "title": "Inbraak in de Lange Nieuwstraat",
            "description": "Vannacht is in de Lange Nieuwstraat ingebroken. Heeft u iets gezien of gehoord?",
            "area": {"type": "circle", "lat": NEUDE[0], "lon": NEUDE[1], "radius_m": 1500},
        }
        async with http.post(f"{base}/v1/actions", json=start, headers=DISPATCHER) as r:
            assert r.status == 201, await r.text()
            action = await r.json()
        assert await hub.engine.drain(15)

        assert sorted(m["To"] for m in mails.parsed()) == ["ann@example.net", "bob@example.net"]
        assert [s["recipient"]["id"] for s in graph.sent] == ["4001"]
        rows = await hub.store.ledger_rows(action["id"])
        assert sorted((r["channel"], r["address"]) for r in rows) == [
            ("email", "ann@example.net"), ("email", "bob@example.net"), ("messenger", "4001")
        ]

        # a reply through the form in Ann's mail is a tip on the action
        ann = next(m for m in mails.parsed() if m["To"] == "ann@example.net")
        reply_url = re.search(r"(http://\S+/v1/channels/email/reply/\S+)", ann.get_body(("plain",)).get_content()).group(1)
        async with http.post(reply_url, data={"text": "Om drie uur reed een witte bus weg."}) as r:
            assert r.status == 200
        async with http.get(f"{base}/v1/actions/{action['id']}/tips", headers=DISPATCHER) as r:
            [tip] = (await r.json())["tips"]
        assert (tip["text"], tip["channel"]) == ("Om drie uur reed een witte bus weg.", "email")

        # Bob switches e-mail off meanwhile: the follow-up still reaches him, where the inquiry did
        await hub.registry.update("near-both", participant("near-both", NEUDE, ["sms"], email="bob@example.net",
                                                           phone="+31612345678"))
        before = len(mails.parsed())
        end = {"result": "arrested", "text": "Dankzij uw tips is een verdachte aangehouden."}
        async with http.post(f"{base}/v1/actions/{action['id']}/end", json=end, headers=DISPATCHER) as r:
            assert r.status == 200, await r.text()
        assert await hub.engine.drain(15)
        follow_ups = mails.parsed()[before:]
        assert sorted(m["To"] for m in follow_ups) == ["ann@example.net", "bob@example.net"]
        assert all("aangehouden" in m.get_body(("plain",)).get_content() for m in follow_ups)
        assert [s["recipient"]["id"] for s in graph.sent[1:]] == ["4001"]
        async with http.get(f"{base}/v1/actions/{action['id']}", headers=DISPATCHER) as r:
            counts = (await r.json())["counts"]
        assert counts["email"]["end"]["sent"] == 2 and counts["messenger"]["end"]["sent"] == 1
        # nothing went out on the other channels for this inquiry
        assert set(counts) == {"email", "messenger"}
