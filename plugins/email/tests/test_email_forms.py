"""The reply form and one-click unsubscribe, through an aiohttp server hosting the channel's web routes."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from email_testkit import PNG, mounted
from hub.errors import NotFound
from hub.models import MessageKind, Recipient, Urgency
from hub.testing import make_context, make_notice, started
from plugins.email import EmailChannel
from plugins.email.tokens import ExpiredToken, InvalidToken, Signer

INQUIRY = dict(type="neighbourhood_inquiry", urgency=Urgency.NON_URGENT, title="Inbraak in de Lange Nieuwstraat",
               description="Vannacht is ingebroken. Heeft u iets gezien of gehoord?")


@pytest.fixture
async def site():
    channel = EmailChannel(make_context("email", {"max_photo_bytes": 64 * 1024}, sandbox=True,
                                        channel_cls=EmailChannel, public_url="https://hub.example.org"))
    async with started(channel):
        async with TestClient(TestServer(mounted(channel.web_routes()), host="127.0.0.1")) as client:
            yield channel, client


def links(channel, language="nl", participant="p-7"):
    rendered = channel.render(make_notice(MessageKind.START, **INQUIRY),
                              Recipient(address="ann@example.net", participant_id=participant, language=language))
    return urlsplit(rendered.extra["reply_url"]).path, urlsplit(rendered.extra["unsubscribe_url"]).path


def tip_form(text: str, photo: bytes | None = None, filename: str = "auto.png") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("text", text)
    if photo is not None:
        form.add_field("photo", photo, filename=filename, content_type="image/png")
    return form


async def test_the_form_is_accessible_and_carries_no_secrets_in_referrers(site):
    channel, client = site
    reply, _ = links(channel)
    resp = await client.get(reply)
    assert resp.status == 200
    html = await resp.text()
    assert '<html lang="nl">' in html and '<label for="text">' in html and 'id="text"' in html
    assert '<label for="photo">' in html and 'enctype="multipart/form-data"' in html
    assert "<script" not in html
    assert resp.headers["Referrer-Policy"] == "no-referrer" and resp.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


async def test_a_tip_with_photo_is_stored_once(site):
    channel, client = site
    reply, _ = links(channel)
    resp = await client.post(reply, data=tip_form("Ik zag om 03:10 een witte bestelbus zonder lichten.", PNG))
    assert resp.status == 200
    assert "Dank u wel" in await resp.text()
    (tip,) = channel.context.tips.tips
    assert tip.action_id == "act-01HZX0TEST7Q2K" and tip.channel == "email" and tip.participant_id == "p-7"
    assert tip.text == "Ik zag om 03:10 een witte bestelbus zonder lichten."
    assert tip.photo == PNG and tip.photo_type == "image/png"
    used = await channel.context.records.scan("used:")
    assert len(used) == 1 and used[0][1]["tip"] == "tip-1"

    again = await client.post(reply, data=tip_form("Nog iets"))
    assert again.status == 409 and "al gereageerd" in await again.text()
    assert (await client.get(reply)).status == 409
    assert len(channel.context.tips.tips) == 1


async def test_english_pages_follow_the_link_language(site):
    channel, client = site
    reply, _ = links(channel, language="en")
    html = await (await client.get(reply)).text()
    assert '<html lang="en">' in html and "What did you see or hear?" in html


async def test_an_expired_link_is_refused(site):
    channel, client = site
    token = channel.reply_token("act-01HZX0TEST7Q2K", "p-7", "nl", now=time.time() - channel.reply_ttl - 1)
    resp = await client.get(f"/v1/channels/email/reply/{token}")
    assert resp.status == 410 and "verlopen" in await resp.text()
    resp = await client.post(f"/v1/channels/email/reply/{token}", data=tip_form("te laat"))
    assert resp.status == 410 and channel.context.tips.tips == []


@pytest.mark.parametrize("tamper", ["flip", "truncate", "swap_purpose", "garbage"])
async def test_a_forged_link_is_refused(site, tamper):
    channel, client = site
    reply, unsubscribe = links(channel)
    token = reply.rsplit("/", 1)[1]
    body, mac = token.split(".")
    forged = {
        "flip": f"{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{mac}",
        "truncate": token[:-5],
        "swap_purpose": unsubscribe.rsplit("/", 1)[1],
        "garbage": "not-a-token",
    }[tamper]
    for resp in (await client.get(f"/v1/channels/email/reply/{forged}"),
                 await client.post(f"/v1/channels/email/reply/{forged}", data=tip_form("vals"))):
        assert resp.status == 403 and "werkt niet" in await resp.text()
    assert channel.context.tips.tips == []


async def test_problems_keep_the_text_and_store_nothing(site):
    channel, client = site
    reply, _ = links(channel)
    resp = await client.post(reply, data=tip_form("   "))
    assert resp.status == 422 and 'role="alert"' in await resp.text()
    resp = await client.post(reply, data=tip_form("een bestand", b"MZ\x90\x00 not an image", filename="x.exe"))
    html = await resp.text()
    assert resp.status == 415 and "geen foto" in html and ">een bestand</textarea>" in html
    resp = await client.post(reply, data=tip_form("te groot", b"\x89PNG\r\n\x1a\n" + b"\0" * (65 * 1024)))
    assert resp.status == 413 and 'aria-invalid="true"' in await resp.text()
    assert channel.context.tips.tips == []
    # nothing was stored, so the link still works
    resp = await client.post(reply, data=tip_form("Nu wel: een man met een rode rugzak."))
    assert resp.status == 200 and len(channel.context.tips.tips) == 1


async def test_a_plain_urlencoded_post_works_too(site):
    channel, client = site
    reply, _ = links(channel)
    resp = await client.post(reply, data={"text": "Ik hoorde glasgerinkel rond 02:00."})
    assert resp.status == 200
    assert channel.context.tips.tips[0].text == "Ik hoorde glasgerinkel rond 02:00." and channel.context.tips.tips[0].photo is None


async def test_an_unknown_action_gets_a_clear_page(site):
    channel, client = site

    async def missing(tip):
        raise NotFound("no such action")

    channel.context.tips.submit = missing
    reply, _ = links(channel)
    resp = await client.post(reply, data=tip_form("hallo"))
    assert resp.status == 410 and "bestaat niet meer" in await resp.text()


async def test_one_click_unsubscribe(site):
    channel, client = site
    _, unsubscribe = links(channel, participant="p-42")
    page = await client.get(unsubscribe)
    assert page.status == 200 and 'method="post"' in await page.text()
    assert channel.context.optouts.opted_out == []  # a GET (a link scanner) never unsubscribes
    resp = await client.post(unsubscribe, data="List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200 and "afgemeld" in await resp.text()
    assert channel.context.optouts.opted_out == ["p-42"]
    forged = unsubscribe[:-3] + "xyz"
    assert (await client.post(forged, data="List-Unsubscribe=One-Click")).status == 403
    assert channel.context.optouts.opted_out == ["p-42"]


def test_tokens_are_bound_to_purpose_and_secret():
    reply = Signer(b"k" * 32, "reply")
    token = reply.sign({"a": "x", "e": time.time() + 60})
    assert reply.verify(token)["a"] == "x"
    with pytest.raises(InvalidToken):
        Signer(b"k" * 32, "unsubscribe").verify(token)
    with pytest.raises(InvalidToken):
        Signer(b"other-secret" * 3, "reply").verify(token)
    with pytest.raises(ExpiredToken):
        reply.verify(reply.sign({"a": "x", "e": time.time() - 1}))


async def test_expired_used_records_are_forgotten_on_start():
    channel = EmailChannel(make_context("email", {}, sandbox=True, channel_cls=EmailChannel))
    await channel.context.records.put("used:old", {"e": time.time() - 10})
    await channel.context.records.put("used:new", {"e": time.time() + 1000})
    async with started(channel):
        pass
    assert [k for k, _ in await channel.context.records.scan("used:")] == ["used:new"]
