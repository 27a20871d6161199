"""The twitter channel through tweepy against an X API stand-in on 127.0.0.1 (TLS, OAuth 1.0a checked)."""

from __future__ import annotations

import itertools
import struct
import time
import zlib
from datetime import datetime, timedelta, timezone

import pytest

from hub.errors import PermanentDeliveryError, PluginError, TransientDeliveryError
from hub.models import Circle, Delivery, MessageKind, Notice, ReceiptStatus, Recipient, Result
from hub.testing import make_action, make_context
from plugins.twitter import TwitterChannel
from plugins.twitter.text import weighted_length
from twitter_fake_api import Certificates, FakeX

ACCOUNTS = {
    "utrecht": {"access_token": "111-utrecht", "access_token_secret": "utrecht-token-secret", "handle": "BurgernetUtr"},
    "gelderland": {
        "access_token": "222-gelderland", "access_token_secret": "gld-token-secret",
        "consumer_key": "gld-consumer", "consumer_secret": "gld-consumer-secret",
    },
    "noord_holland": {"access_token": "333-nh", "access_token_secret": "nh-token-secret", "language": "en"},
}
SETTINGS = {"consumer_key": "app-consumer", "consumer_secret": "app-consumer-secret", "accounts": ACCOUNTS}
_ids = itertools.count(5000)


def png() -> bytes:
    def chunk(kind, data):
        return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack("!IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")
    )


@pytest.fixture
async def x_api(tmp_path):
    accounts = {
        "111-utrecht": ("utrecht", "app-consumer-secret", "utrecht-token-secret"),
        "222-gelderland": ("gelderland", "gld-consumer-secret", "gld-token-secret"),
        "333-nh": ("noord_holland", "app-consumer-secret", "nh-token-secret"),
    }
    async with FakeX(certs=Certificates.create(tmp_path), accounts=accounts, photo=png()) as server:
        yield server


@pytest.fixture
async def make_channel(x_api):
    channels = []

    async def factory(**settings):
        class LoopbackTwitter(TwitterChannel):
            def make_session(self):
                return x_api.session()

        context = make_context("twitter", {**SETTINGS, **settings}, channel_cls=TwitterChannel)
        channel = LoopbackTwitter(context)
        await channel.start()
        channels.append(channel)
        return channel

    yield factory
    for channel in channels:
        await channel.close()


async def post(channel, kind, province="utrecht", action=None, delivery_id=None, changes=()):
    action = action or (make_action(result=Result.FOUND) if kind is MessageKind.END else make_action())
    delivery = Delivery(
        id=delivery_id or next(_ids), action_id=action.id, channel="twitter", kind=kind,
        recipient=Recipient(address=province),
    )
    [receipt] = await channel.deliver(Notice(action=action, kind=kind, changes=changes), [delivery])
    return receipt


async def test_start_update_and_end_form_one_thread(make_channel, x_api):
    channel = await make_channel(attach_photos=False)
    start = await post(channel, MessageKind.START)
    update = await post(channel, MessageKind.UPDATE, action=make_action(description="Nu met groene muts.", version=2))
    end = await post(channel, MessageKind.END)

    assert x_api.problems == []
    assert [r.status for r in (start, update, end)] == [ReceiptStatus.SENT] * 3
    first, second, third = x_api.posts
    assert start.provider_id == first.id and update.provider_id == second.id and end.provider_id == third.id
    assert "reply" not in first.json and "media" not in first.json
    assert second.json["reply"] == {"in_reply_to_tweet_id": first.id}
    assert third.json["reply"] == {"in_reply_to_tweet_id": second.id}
    assert [p.account for p in x_api.posts] == ["utrecht"] * 3
    assert {p.oauth["oauth_consumer_key"] for p in x_api.posts} == {"app-consumer"}
    assert first.json["text"].startswith("Burgernet-actie ST7Q2K, vermissing. Kijk uit naar: Jongen van 5 jaar")
    assert "Nu met groene muts." in second.json["text"]
    assert "beëindigd" in third.json["text"] and "gevonden" in third.json["text"]
    assert set(x_api.requests) == {("POST", "api.twitter.com", "/2/tweets")}
    assert start.detail["url"] == f"https://x.com/BurgernetUtr/status/{first.id}"
    thread = await channel.context.records.get(f"thread:{make_action().id}:utrecht")
    assert thread["start"] == first.id and thread["last"] == third.id


async def test_every_account_signs_with_its_own_credentials_and_language(make_channel, x_api):
    channel = await make_channel(attach_photos=False)
    for province in ("utrecht", "gelderland", "noord_holland"):
        receipt = await post(channel, MessageKind.START, province=province)
        assert receipt.status is ReceiptStatus.SENT, receipt.error
    assert x_api.problems == []
    by_account = {p.account: p for p in x_api.posts}
    assert by_account["gelderland"].oauth["oauth_consumer_key"] == "gld-consumer"
    assert by_account["gelderland"].oauth["oauth_token"] == "222-gelderland"
    assert by_account["noord_holland"].json["text"].startswith("Burgernet action ST7Q2K, missing person. Look out for")
    # threads are per province
    end = await post(channel, MessageKind.END, province="gelderland")
    assert x_api.posts[-1].json["reply"]["in_reply_to_tweet_id"] == by_account["gelderland"].id and end.status is ReceiptStatus.SENT


async def test_a_retried_delivery_is_not_posted_twice(make_channel, x_api):
    channel = await make_channel(attach_photos=False)
    first = await post(channel, MessageKind.START, delivery_id=77)
    again = await post(channel, MessageKind.START, delivery_id=77)
    assert again.status is ReceiptStatus.SENT and again.provider_id == first.provider_id
    assert len(x_api.posts) == 1


async def test_start_post_carries_the_photo(make_channel, x_api):
    channel = await make_channel()
    receipt = await post(channel, MessageKind.START)
    assert receipt.status is ReceiptStatus.SENT and x_api.problems == []
    [upload] = x_api.uploads
    assert upload["account"] == "utrecht" and upload["content_type"] == "image/png"
    assert x_api.posts[0].json["media"] == {"media_ids": [upload["id"]]}
    assert ("GET", "img.example.org", "/boy.jpg") in x_api.requests
    # the closing message carries no photo
    await post(channel, MessageKind.END)
    assert "media" not in x_api.posts[-1].json and len(x_api.uploads) == 1


async def test_a_photo_that_cannot_be_fetched_does_not_stop_the_post(make_channel, x_api):
    channel = await make_channel()
    x_api.photo = b"<html>not an image</html>"
    receipt = await post(channel, MessageKind.START)
    assert receipt.status is ReceiptStatus.SENT
    assert receipt.detail["photos_skipped"] == ["https://img.example.org/boy.jpg"]
    assert "media" not in x_api.posts[0].json and x_api.uploads == []


async def test_long_descriptions_are_shortened_keeping_reference_and_number(make_channel, x_api):
    channel = await make_channel(attach_photos=False)
    action = make_action(description="Man, ongeveer 30 jaar, donkere jas met capuchon, spijkerbroek, witte sneakers. " * 8)
    await post(channel, MessageKind.START, action=action)
    text = x_api.posts[0].json["text"]
    assert weighted_length(text) <= 280 and len(text) <= 280
    assert "ST7Q2K" in text and text.endswith("Gezien? Bel 112.") and "…" in text


async def test_the_daily_quota_is_a_clear_receipt_error(make_channel, x_api):
    channel = await make_channel(attach_photos=False, daily_quota=2)
    assert (await post(channel, MessageKind.START)).status is ReceiptStatus.SENT
    assert (await post(channel, MessageKind.UPDATE)).status is ReceiptStatus.SENT
    refused = await post(channel, MessageKind.END)
    assert refused.status is ReceiptStatus.FAILED
    assert isinstance(refused.error, TransientDeliveryError) and refused.error.code == "quota_exhausted"
    assert "utrecht" in refused.error.reason and "2 of 2" in refused.error.reason
    assert 23 * 3600 < refused.error.retry_after <= 24 * 3600
    assert len(x_api.posts) == 2  # no request was made
    # other accounts have their own quota
    assert (await post(channel, MessageKind.START, province="gelderland")).status is ReceiptStatus.SENT


async def test_quota_exhaustion_past_the_action_expiry_is_final(make_channel, x_api):
    channel = await make_channel(attach_photos=False, daily_quota=1)
    await post(channel, MessageKind.START)
    soon = make_action(id="act-01HZX0OTHER1", expires_at=datetime.now(timezone.utc) + timedelta(hours=1))
    refused = await post(channel, MessageKind.START, action=soon)
    assert isinstance(refused.error, PermanentDeliveryError) and refused.error.code == "quota_exhausted"


async def test_x_reporting_the_24_hour_limit_used_up_stops_posting_until_its_reset(make_channel, x_api):
    channel = await make_channel(attach_photos=False)
    reset = int(time.time()) + 6 * 3600
    x_api.limit_headers["utrecht"] = {
        "x-user-limit-24hour-limit": "100", "x-user-limit-24hour-remaining": "0", "x-user-limit-24hour-reset": str(reset),
        "x-rate-limit-limit": "100", "x-rate-limit-remaining": "99", "x-rate-limit-reset": str(int(time.time()) + 900),
    }
    assert (await post(channel, MessageKind.START)).status is ReceiptStatus.SENT
    refused = await post(channel, MessageKind.UPDATE)
    assert refused.error.code == "quota_exhausted" and "24-hour" in refused.error.reason
    assert reset - time.time() - 5 < refused.error.retry_after <= reset - time.time() + 1
    assert len(x_api.posts) == 1


async def test_429_is_transient_with_the_reset_time_and_blocks_the_account(make_channel, x_api):
    channel = await make_channel(attach_photos=False)
    reset = int(time.time()) + 120
    x_api.answers.append((429, {"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
                          {"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429}))
    receipt = await post(channel, MessageKind.START)
    assert receipt.status is ReceiptStatus.FAILED
    error = receipt.error
    assert isinstance(error, TransientDeliveryError) and error.code == "rate_limited" and error.provider_status == 429
    assert 110 < error.retry_after <= 121
    assert len(x_api.requests) == 1
    # until the reset the account is not tried again
    blocked = await post(channel, MessageKind.START, delivery_id=next(_ids))
    assert blocked.error.code == "quota_exhausted" and len(x_api.requests) == 1


@pytest.mark.parametrize(
    "status, kind, code",
    [(401, PermanentDeliveryError, "unauthorized"), (403, PermanentDeliveryError, "forbidden"),
     (503, TransientDeliveryError, "provider_error")],
)
async def test_other_answers(make_channel, x_api, status, kind, code):
    channel = await make_channel(attach_photos=False)
    x_api.answers.append((status, {}, {"title": "x", "detail": "refused", "status": status}))
    receipt = await post(channel, MessageKind.START)
    assert isinstance(receipt.error, kind) and receipt.error.code == code and receipt.error.provider_status == status


async def test_a_deleted_start_post_does_not_lose_the_closing_message(make_channel, x_api):
    channel = await make_channel(attach_photos=False)
    start = await post(channel, MessageKind.START)
    x_api.deleted.add(start.provider_id)
    end = await post(channel, MessageKind.END)
    assert end.status is ReceiptStatus.SENT and end.detail["in_reply_to"] is None
    assert "reply" not in x_api.posts[-1].json


def in_province(region: str | None, lat: float, lon: float):
    """An action whose region and area agree: a 1 km circle around a town in that province."""
    return make_action(region=region, area=Circle(lat=lat, lon=lon, radius_m=1000))


HAARLEM = (52.3812, 4.6368)
LEEUWARDEN = (53.2012, 5.7999)
MIDDELBURG = (51.4988, 3.6136)
MAASTRICHT = (50.8514, 5.6910)


async def test_audience_is_the_province_account(make_channel):
    channel = await make_channel()
    assert [r.address for r in await channel.resolve_audience(make_action(region="Utrecht"))] == ["utrecht"]
    assert [r.address for r in await channel.resolve_audience(in_province("Noord-Holland", *HAARLEM))] == ["noord_holland"]
    [nh] = await channel.resolve_audience(in_province("noord-holland/haarlem", *HAARLEM))
    assert nh.language == "en" and nh.participant_id is None
    # a province without an account, and no region at all
    assert await channel.resolve_audience(in_province("limburg", *MAASTRICHT)) == []
    assert await channel.resolve_audience(in_province(None, *MAASTRICHT)) == []


async def test_the_area_adds_the_provinces_it_touches(make_channel):
    channel = await make_channel()
    # the region names Utrecht, but the area lies around Haarlem: both accounts post
    found = await channel.resolve_audience(make_action(region="Utrecht", area=Circle(lat=HAARLEM[0], lon=HAARLEM[1], radius_m=1000)))
    assert [r.address for r in found] == ["noord_holland", "utrecht"]


async def test_the_sandbox_resolves_every_province():
    channel = TwitterChannel(make_context("twitter", {}, sandbox=True, channel_cls=TwitterChannel))
    await channel.start()
    assert [r.address for r in await channel.resolve_audience(in_province("Fryslân", *LEEUWARDEN))] == ["friesland"]
    assert [r.address for r in await channel.resolve_audience(in_province("zeeland", *MIDDELBURG))] == ["zeeland"]
    await channel.close()


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"accounts": {"utrecht": {"access_token": "a", "access_token_secret": "b"}}}, "consumer_key"),
        ({**SETTINGS, "accounts": {"utrech": {"access_token": "a", "access_token_secret": "b"}}}, "unknown province"),
    ],
)
async def test_start_refuses_incomplete_accounts(settings, message):
    channel = TwitterChannel(make_context("twitter", settings, sandbox=False))
    with pytest.raises(PluginError, match=message):
        await channel.start()
    await channel.close()


def test_settings_schema_marks_every_secret_private():
    schema = TwitterChannel.settings_schema
    account = schema["$defs"]["account"]["properties"]
    for key in ("access_token", "access_token_secret", "consumer_key", "consumer_secret"):
        assert account[key]["private"] is True
    assert schema["properties"]["consumer_secret"]["private"] is True
    assert schema["additionalProperties"] is False and schema["$defs"]["account"]["additionalProperties"] is False


async def test_provinces_the_area_touches_are_added_when_the_core_can_tell(monkeypatch):
    import sys
    import types

    places = types.ModuleType("hub.places")
    places.provinces_in = lambda area: ["Utrecht", "Gelderland", "Nordrhein-Westfalen"]
    monkeypatch.setitem(sys.modules, "hub.places", places)
    channel = TwitterChannel(make_context("twitter", {}, sandbox=True, channel_cls=TwitterChannel))
    await channel.start()
    recipients = await channel.resolve_audience(make_action(region="utrecht"))
    assert [r.address for r in recipients] == ["gelderland", "utrecht"]
    await channel.close()
