"""The webhook: Meta's verification handshake, signed events, and the subscription conversation."""

from __future__ import annotations

import json
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub.models import ReceiptStatus
from hub.testing import make_action, make_context, make_deliveries, make_notice, started
from messenger_testkit import (
    APP_SECRET,
    PAGE_ID,
    PAGE_TOKEN,
    PNG,
    VERIFY_TOKEN,
    FakeGraph,
    message_event,
    mounted,
    signed,
)
from plugins.messenger import MessengerChannel

HOOK = "/v1/channels/messenger/webhook"


@pytest.fixture
async def hub():
    fake = FakeGraph()
    async with TestServer(fake.app(), host="127.0.0.1") as graph_server:
        url = str(graph_server.make_url("")).rstrip("/")
        settings = {"page_access_token": PAGE_TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN,
                    "page_id": PAGE_ID, "base_url": url, "timeout": 5}
        channel = MessengerChannel(make_context("messenger", settings, channel_cls=MessengerChannel))
        async with started(channel):
            async with TestClient(TestServer(mounted(channel.web_routes()), host="127.0.0.1")) as client:
                yield channel, client, fake, url


async def post(client, channel, payload, **kwargs):
    raw, headers = signed(payload, **kwargs)
    resp = await client.post(HOOK, data=raw, headers=headers)
    await channel.conversation.idle()
    return resp


async def test_the_verification_handshake(hub):
    channel, client, _, _ = hub
    ok = await client.get(HOOK, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                        "hub.challenge": "1158201444"})
    assert ok.status == 200 and await ok.text() == "1158201444"
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ):
        resp = await client.get(HOOK, params=params)
        assert resp.status == 403 and "1" not in await resp.text()


async def test_a_signed_postcode_subscribes_and_is_confirmed_in_dutch(hub):
    channel, client, fake, _ = hub
    resp = await post(client, channel, message_event("3001", "3511 AB", timestamp=int(time.time() * 1000)))
    assert resp.status == 200 and await resp.text() == "EVENT_RECEIVED"
    sub = await channel.context.records.get("sub:3001")
    assert sub["psid"] == "3001" and sub["radius_m"] == 2000 and sub["language"] == "nl"
    assert abs(sub["lat"] - 52.09) < 0.02 and abs(sub["lon"] - 5.12) < 0.02
    assert time.time() - sub["last_interaction"] < 60
    (reply,) = fake.sent
    assert reply["messaging_type"] == "RESPONSE" and reply["recipient"] == {"id": "3001"}
    assert "aangemeld" in reply["message"]["text"] and "Utrecht" in reply["message"]["text"]
    assert "24 uur" in reply["message"]["text"]
    # and the subscriber is now in the audience of an action in Utrecht
    assert [r.address for r in await channel.resolve_audience(make_action())] == ["3001"]


async def test_a_place_with_a_distance_in_english(hub):
    channel, client, fake, _ = hub
    await post(client, channel, message_event("3002", "Subscribe to Amsterdam 5 km"))
    sub = await channel.context.records.get("sub:3002")
    assert sub["radius_m"] == 5000 and sub["language"] == "en" and sub["place"] == "Amsterdam"
    assert "You are subscribed" in fake.texts_to("3002")[0] and "within 5 km of Amsterdam" in fake.texts_to("3002")[0]


@pytest.mark.parametrize("forgery", ["missing", "other_secret", "other_body", "sha1"])
async def test_unsigned_or_forged_calls_are_refused_before_parsing(hub, forgery):
    channel, client, fake, _ = hub
    payload = message_event("3003", "3511 AB")
    raw, headers = signed(payload)
    if forgery == "missing":
        del headers["X-Hub-Signature-256"]
    elif forgery == "other_secret":
        raw, headers = signed(payload, secret="not-the-app-secret")
    elif forgery == "other_body":
        _, headers = signed(message_event("3003", "1012"))
    else:
        headers["X-Hub-Signature-256"] = headers["X-Hub-Signature-256"].replace("sha256=", "sha1=")
    resp = await client.post(HOOK, data=raw, headers=headers)
    await channel.conversation.idle()
    assert resp.status == 403
    assert await channel.context.records.scan("") == [] and fake.sent == []


async def test_garbage_with_a_valid_signature_is_rejected_cleanly(hub):
    channel, client, fake, _ = hub
    raw, headers = signed(b"{not json")
    assert (await client.post(HOOK, data=raw, headers=headers)).status == 400
    assert (await post(client, channel, {"object": "instagram", "entry": []})).status == 404


async def test_stop_unsubscribes(hub):
    channel, client, fake, _ = hub
    await post(client, channel, message_event("3004", "Utrecht"))
    await post(client, channel, message_event("3004", "STOP"))
    assert await channel.context.records.get("sub:3004") is None
    assert "afgemeld" in fake.texts_to("3004")[-1]
    assert await channel.resolve_audience(make_action()) == []


async def test_unknown_places_and_chatter_get_help_not_a_subscription(hub):
    channel, client, fake, _ = hub
    await post(client, channel, message_event("3005", "aanmelden Atlantis"))
    await post(client, channel, message_event("3005", "Ik zag gisteren iets raars in Utrecht bij het station"))
    assert await channel.context.records.get("sub:3005") is None
    unknown, help_text = fake.texts_to("3005")
    assert '"atlantis" kennen wij niet' in unknown and "Stuur uw postcode" in help_text


async def test_echoes_and_other_pages_are_ignored(hub):
    channel, client, fake, _ = hub
    await post(client, channel, message_event("3006", "3511", echo=True))
    other = message_event("3006", "3511")
    other["entry"][0]["id"] = "999"
    await post(client, channel, other)
    assert await channel.context.records.scan("") == [] and fake.sent == []


async def test_writing_to_the_page_reopens_the_window(hub):
    channel, client, fake, _ = hub
    await post(client, channel, message_event("3007", "3511 AB"))
    sub = await channel.context.records.get("sub:3007")
    await channel.context.records.put("sub:3007", {**sub, "last_interaction": time.time() - 30 * 3600})
    closed = await channel.deliver(make_notice(), make_deliveries(["3007"], channel="messenger"))
    assert closed[0].error.code == "outside_messaging_window"
    await post(client, channel, message_event("3007", "status"))
    assert "binnen 2 km van 3511 (Utrecht)" in fake.texts_to("3007")[-1]
    opened = await channel.deliver(make_notice(), make_deliveries(["3007"], channel="messenger"))
    assert opened[0].status is ReceiptStatus.SENT


async def test_a_reply_to_an_alert_becomes_a_tip_with_its_photo(hub):
    channel, client, fake, url = hub
    fake.files["photo.png"] = (PNG, "image/png")
    await post(client, channel, message_event("3008", "3511 AB"))
    channel.context.tips.actions["3008"] = "act-01HZX0TEST7Q2K"
    attachments = [{"type": "image", "payload": {"url": f"{url}/cdn/photo.png"}}]
    await post(client, channel, message_event("3008", "Ik zag hem net bij de Dom!", attachments=attachments))
    (tip,) = channel.context.tips.tips
    assert tip.action_id == "act-01HZX0TEST7Q2K" and tip.channel == "messenger" and tip.sender == "3008"
    assert tip.text == "Ik zag hem net bij de Dom!" and tip.photo == PNG and tip.photo_type == "image/png"
    assert "doorgegeven aan de politie" in fake.texts_to("3008")[-1]


async def test_delivery_events_confirm_sent_alerts(hub):
    channel, client, fake, _ = hub
    payload = {"object": "page", "entry": [{"id": PAGE_ID, "time": 1, "messaging": [
        {"sender": {"id": "3009"}, "recipient": {"id": PAGE_ID},
         "delivery": {"mids": ["m_0001", "m_0002"], "watermark": 1700000000000}}]}]}
    assert (await post(client, channel, payload)).status == 200
    assert [(u[0], u[1]) for u in channel.context.receipts.updates] == [
        ("m_0001", ReceiptStatus.DELIVERED), ("m_0002", ReceiptStatus.DELIVERED)]


async def test_without_an_app_secret_every_event_is_refused():
    channel = MessengerChannel(make_context("messenger", {}, sandbox=True, channel_cls=MessengerChannel))
    async with started(channel):
        async with TestClient(TestServer(mounted(channel.web_routes()), host="127.0.0.1")) as client:
            raw, headers = signed(message_event("3010", "3511"), secret="")
            assert (await client.post(HOOK, data=raw, headers=headers)).status == 403
            resp = await client.get(HOOK, params={"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "x"})
            assert resp.status == 403
    assert await channel.context.records.scan("") == []


def test_signature_check_uses_the_raw_bytes():
    from plugins.messenger.webhook import signature_ok

    body = json.dumps({"object": "page"}).encode()
    _, headers = signed(body)
    assert signature_ok(APP_SECRET, body, headers["X-Hub-Signature-256"])
    assert not signature_ok(APP_SECRET, body + b" ", headers["X-Hub-Signature-256"])
    assert not signature_ok(None, body, headers["X-Hub-Signature-256"])
