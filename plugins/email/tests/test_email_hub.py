"""The e-mail channel inside a real hub: routing, ledger, engine, the hub's HTTP app and aiosmtpd."""

from __future__ import annotations

import re

import aiohttp

import plugins.email
from email_testkit import PNG, Collector, smtp_server
from hub.actions import Actor
from hub.testing import bound_socket, serving

DISPATCHER = Actor("meldkamer", "dispatcher")


async def test_an_inquiry_by_mail_a_tip_through_the_form_the_follow_up_and_unsubscribe(make_hub, tmp_path):
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nchannels: [email]\n")
    sock, public_url = bound_socket()
    handler = Collector()
    with smtp_server(handler) as smtp:
        config = {
            "hub": {"routes": str(routes), "public_url": public_url},
            "channels": {"email": {"host": "127.0.0.1", "port": smtp.port, "security": "none",
                                   "from_address": "noreply@burgernet.example.org", "timeout": 5}},
        }
        async with make_hub(plugins=[plugins.email], config=config) as hub, serving(hub, sock):
            await hub.registry.register({
                "id": "p1", "language": "nl", "email": "Ann@Example.net", "channels": ["email"],
                "addresses": [{"label": "home", "lat": 52.0894, "lon": 5.1100}],
            })
            action = await hub.actions.start({
                "type": "neighbourhood_inquiry", "urgency": "non_urgent",
                "title": "Inbraak in de Lange Nieuwstraat",
                "description": "Vannacht is in de Lange Nieuwstraat ingebroken. Heeft u iets gezien of gehoord?",
                "area": {"type": "circle", "lat": 52.0894, "lon": 5.1100, "radius_m": 500},
            }, DISPATCHER)
            assert await hub.engine.drain(10)
            [mail] = handler.parsed()
            assert mail["To"] == "ann@example.net" and action["id"][-6:].upper() in mail["Subject"]
            [row] = await hub.store.ledger_rows(action["id"])
            assert row["status"] == "sent" and f"<{row['provider_id']}>" == mail["Message-ID"]

            text = mail.get_body(("plain",)).get_content()
            reply_url = re.search(r"(http://\S+/v1/channels/email/reply/\S+)", text).group(1)
            unsubscribe_url = mail["List-Unsubscribe"].strip("<>")
            async with aiohttp.ClientSession() as http:
                async with http.get(reply_url) as resp:
                    assert resp.status == 200 and "Inbraak in de Lange Nieuwstraat" in await resp.text()
                form = aiohttp.FormData()
                form.add_field("text", "Rond drie uur reed een witte bestelbus zonder licht weg.")
                form.add_field("photo", PNG, filename="bus.png", content_type="image/png")
                async with http.post(reply_url, data=form) as resp:
                    assert resp.status == 200
                async with http.post(reply_url, data={"text": "nog een keer"}) as resp:
                    assert resp.status == 409
                [tip] = await hub.store.list_tips(action["id"])
                assert (tip["channel"], tip["participant_id"], tip["has_photo"]) == ("email", "p1", 1)

                await hub.actions.end(action["id"], {"result": "arrested", "text": "Dankzij uw tips is een verdachte aangehouden."}, DISPATCHER)
                assert await hub.engine.drain(10)
                follow_up = handler.parsed()[-1]
                assert follow_up["In-Reply-To"] == mail["Message-ID"]
                assert "Dankzij uw tips is een verdachte aangehouden." in follow_up.get_body(("plain",)).get_content()

                async with http.post(unsubscribe_url, data="List-Unsubscribe=One-Click",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
                    assert resp.status == 200
            assert "email" not in (await hub.registry.get("p1"))["channels"]
