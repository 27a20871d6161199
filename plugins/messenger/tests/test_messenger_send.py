"""Alerts through the Send API, against a loopback Graph API with the documented requests and errors."""

from __future__ import annotations

import json
import time

import pytest
from aiohttp.test_utils import TestServer

from hub.errors import PermanentDeliveryError, PluginError, TransientDeliveryError
from hub.models import Circle, MessageKind, Polygon, ReceiptStatus, Recipient, Urgency
from hub.testing import make_action, make_context, make_deliveries, make_notice, started
from messenger_testkit import APP_SECRET, PAGE_ID, PAGE_TOKEN, VERIFY_TOKEN, FakeGraph, graph_error
from plugins.messenger import MessengerChannel
from plugins.messenger.sendapi import OutsideWindow, RecipientUnavailable

UTRECHT = (52.0907, 5.1214)
NIEUWEGEIN = (52.0290, 5.0810)
AMERSFOORT = (52.1561, 5.3878)
ROTTERDAM = (51.9225, 4.4792)


@pytest.fixture
async def graph():
    fake = FakeGraph()
    async with TestServer(fake.app(), host="127.0.0.1") as server:
        yield fake, str(server.make_url("")).rstrip("/")


def channel_for(base_url: str, **overrides) -> MessengerChannel:
    settings = {"page_access_token": PAGE_TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN,
                "page_id": PAGE_ID, "base_url": base_url, "api_version": "v25.0", "timeout": 5}
    settings.update(overrides)
    return MessengerChannel(make_context("messenger", settings, channel_cls=MessengerChannel))


async def subscribe(channel, psid, where, radius_m=2000.0, *, hours_ago=1.0, language="nl"):
    lat, lon = where
    await channel.context.records.put(f"sub:{psid}", {
        "psid": psid, "lat": lat, "lon": lon, "radius_m": radius_m, "language": language,
        "last_interaction": time.time() - hours_ago * 3600, "place": "test",
    })


def one(psid: str, kind=MessageKind.START):
    return make_deliveries([psid], channel="messenger", kind=kind)


async def test_an_alert_within_the_window_is_a_documented_update(graph):
    fake, url = graph
    channel = channel_for(url)
    async with started(channel):
        await subscribe(channel, "2001", UTRECHT)
        notice = make_notice(MessageKind.START, type="burglary", urgency=Urgency.NON_URGENT)
        receipts = await channel.deliver(notice, one("2001"))
    assert receipts[0].status is ReceiptStatus.SENT and receipts[0].provider_id == "m_0001"
    (body,) = fake.sent
    assert set(body) == {"recipient", "messaging_type", "message"}
    assert body["recipient"] == {"id": "2001"} and body["messaging_type"] == "UPDATE"
    assert notice.action.reference in body["message"]["text"]
    assert "U kunt hier in dit gesprek antwoorden" in body["message"]["text"]
    assert fake.queries[0]["access_token"] == PAGE_TOKEN and len(fake.queries[0]["appsecret_proof"]) == 64


async def test_outside_the_24_hour_window_nothing_is_sent(graph):
    fake, url = graph
    channel = channel_for(url)
    async with started(channel):
        await subscribe(channel, "2002", UTRECHT, hours_ago=25)
        receipts = await channel.deliver(make_notice(), one("2002"))
    assert receipts[0].status is ReceiptStatus.FAILED
    assert isinstance(receipts[0].error, PermanentDeliveryError) and receipts[0].error.code == "outside_messaging_window"
    assert fake.sent == [] and fake.queries == []


async def test_an_unsubscribed_person_gets_nothing(graph):
    fake, url = graph
    channel = channel_for(url)
    async with started(channel):
        receipts = await channel.deliver(make_notice(MessageKind.END), one("2003", MessageKind.END))
    assert receipts[0].error.code == "unsubscribed" and fake.queries == []


@pytest.mark.parametrize(
    "response, retry_after",
    [
        (lambda: graph_error(429, 4, "(#4) Application request limit reached", headers={"Retry-After": "7"}), 7.0),
        (lambda: graph_error(400, 613, "(#613) Calls to this api have exceeded the rate limit."), 10.0),
        (lambda: graph_error(400, 80006, "There have been too many messages sent to this Page", headers={
            "X-Business-Use-Case-Usage": json.dumps({PAGE_ID: [{"type": "messenger", "call_count": 100,
                                                               "estimated_time_to_regain_access": 2}]})}), 120.0),
        (lambda: graph_error(500, 2, "An unexpected error has occurred. Please retry your request later."), None),
        (lambda: graph_error(400, 1200, "Temporary send message failure. Please try again later"), None),
    ],
    ids=["429", "613", "80006", "2", "1200"],
)
async def test_throttling_and_outages_are_transient(graph, response, retry_after):
    fake, url = graph
    fake.script["2004"] = [response()]
    channel = channel_for(url)
    async with started(channel):
        await subscribe(channel, "2004", UTRECHT)
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.deliver(make_notice(), one("2004"))
        assert caught.value.retry_after == retry_after
        retried = await channel.deliver(make_notice(), one("2004"))
    assert retried[0].status is ReceiptStatus.SENT and len(fake.sent) == 1


@pytest.mark.parametrize(
    "code, subcode, message",
    [(551, 1545041, "(#551) This person isn't available right now."), (100, 2018001, "(#100) No matching user found")],
)
async def test_blocked_or_unknown_people_fail_permanently_and_are_removed(graph, code, subcode, message):
    fake, url = graph
    fake.script["2005"] = [graph_error(400, code, message, subcode)]
    channel = channel_for(url)
    async with started(channel):
        await subscribe(channel, "2005", UTRECHT)
        receipts = await channel.deliver(make_notice(), one("2005"))
        assert await channel.context.records.get("sub:2005") is None
        assert await channel.resolve_audience(make_action()) == []
    assert isinstance(receipts[0].error, RecipientUnavailable)


async def test_the_apis_own_window_error_keeps_the_subscriber(graph):
    fake, url = graph
    fake.script["2006"] = [graph_error(400, 10, "(#10) This message is sent outside of allowed window.", 2018065)]
    channel = channel_for(url)
    async with started(channel):
        await subscribe(channel, "2006", UTRECHT)
        receipts = await channel.deliver(make_notice(), one("2006"))
        assert await channel.context.records.get("sub:2006") is not None
    assert isinstance(receipts[0].error, OutsideWindow)


async def test_a_wrong_page_token_is_not_the_persons_fault(graph):
    fake, url = graph
    channel = channel_for(url, page_access_token="revoked-token")
    async with started(channel):
        await subscribe(channel, "2007", UTRECHT)
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.deliver(make_notice(), one("2007"))
    assert caught.value.code == "graph_190"


async def test_an_unreachable_api_is_transient():
    async with TestServer(FakeGraph().app(), host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
    channel = channel_for(url)
    async with started(channel):
        await subscribe(channel, "2008", UTRECHT)
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.deliver(make_notice(), one("2008"))
    assert caught.value.code == "network"


async def test_long_alerts_are_cut_to_the_send_api_limit(graph):
    fake, url = graph
    channel = channel_for(url)
    async with started(channel):
        await subscribe(channel, "2009", UTRECHT)
        receipts = await channel.deliver(make_notice(description="Lang verhaal. " * 300), one("2009"))
    assert receipts[0].status is ReceiptStatus.SENT
    assert len(fake.sent[0]["message"]["text"]) == 2000 and fake.sent[0]["message"]["text"].endswith("…")


async def test_english_subscribers_get_english(graph):
    fake, url = graph
    channel = channel_for(url)
    async with started(channel):
        await subscribe(channel, "2010", UTRECHT, language="en")
        (recipient,) = await channel.resolve_audience(make_action())
        await channel.deliver(make_notice(), make_deliveries(["2010"], channel="messenger", language=recipient.language))
    assert "This is a call from Burgernet" in fake.sent[0]["message"]["text"]


async def test_the_audience_is_every_subscription_circle_that_meets_the_area():
    channel = MessengerChannel(make_context("messenger", {}, sandbox=True, channel_cls=MessengerChannel))
    async with started(channel):
        await subscribe(channel, "utrecht", UTRECHT, 2000)
        await subscribe(channel, "nieuwegein", NIEUWEGEIN, 2000)  # ~7.4 km from the centre
        await subscribe(channel, "amersfoort-wide", AMERSFOORT, 25000)  # ~20 km away, wide circle
        await subscribe(channel, "rotterdam", ROTTERDAM, 5000)
        await subscribe(channel, "stale", UTRECHT, 2000, hours_ago=48)  # resolved; deliver() skips it

        circle = make_action(area=Circle(lat=52.0907, lon=5.1214, radius_m=1500))
        assert {r.address for r in await channel.resolve_audience(circle)} == {"utrecht", "amersfoort-wide", "stale"}

        bigger = make_action(area=Circle(lat=52.0907, lon=5.1214, radius_m=6000))
        assert "nieuwegein" in {r.address for r in await channel.resolve_audience(bigger)}

        # a polygon around Nieuwegein only; Utrecht's 2 km circle stays outside, Amersfoort's reaches in
        polygon = make_action(area=Polygon(points=((52.00, 5.05), (52.00, 5.12), (52.05, 5.12), (52.05, 5.05))))
        assert {r.address for r in await channel.resolve_audience(polygon)} == {"nieuwegein", "amersfoort-wide"}
        # a polygon edge passing within the radius counts even when the centre is outside
        edge = make_action(area=Polygon(points=((52.0950, 5.13), (52.0950, 5.20), (52.20, 5.20), (52.20, 5.13))))
        assert "utrecht" in {r.address for r in await channel.resolve_audience(edge)}


async def test_start_refuses_a_real_configuration_without_webhook_secrets(graph):
    _, url = graph
    channel = MessengerChannel(make_context("messenger", {"page_access_token": PAGE_TOKEN, "base_url": url},
                                            channel_cls=MessengerChannel))
    with pytest.raises(PluginError):
        async with started(channel):
            pass


def test_recipients_carry_the_psid():
    channel = MessengerChannel(make_context("messenger", {}, sandbox=True, channel_cls=MessengerChannel))
    rendered = channel.render(make_notice(MessageKind.END), Recipient(address="1", language="nl"))
    assert "beëindigd" in rendered.text and "antwoorden" not in rendered.text
