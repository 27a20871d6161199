"""The app channel end to end against a Web Push service on 127.0.0.1 that verifies VAPID and decrypts."""

from __future__ import annotations

import base64
import io
import itertools
import math
import struct
import zlib
from dataclasses import replace

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app_push_service import PushService, b64u
from hub.errors import NotFound, PermanentDeliveryError, TransientDeliveryError
from hub.models import Circle, Delivery, MessageKind, Notice, Polygon, ReceiptStatus, Tip, Urgency
from hub.testing import channel_routes_app, make_action, make_context, tiny_image
from plugins.app import AppChannel
from plugins.app.regions import cell_of

SUBJECT = "mailto:beheer@burgernet.example"
_VAPID = ec.generate_private_key(ec.SECP256R1())
VAPID_PRIVATE = b64u(_VAPID.private_numbers().private_value.to_bytes(32, "big"))
VAPID_PUBLIC = b64u(_VAPID.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
SETTINGS = {
    "vapid_private_key": VAPID_PRIVATE,
    "vapid_subject": SUBJECT,
    "allowed_push_hosts": ["127.0.0.1"],
    "allow_insecure_endpoints": True,
    "max_photo_bytes": 64 * 1024,
}
UTRECHT = cell_of(52.0894, 5.1100)  # the sample action's centre
GRONINGEN = cell_of(53.2194, 6.5665)
_ids = itertools.count(1000)


class Tips:
    """A tip sink that knows one action, like the hub's."""

    def __init__(self, known: str):
        self.known = known
        self.tips: list[Tip] = []

    async def submit(self, tip: Tip) -> str:
        if tip.action_id != self.known:
            raise NotFound(tip.action_id)
        self.tips.append(tip)
        return f"tip-{len(self.tips)}"

    async def action_for(self, address: str) -> str | None:
        return None


@pytest.fixture
async def push():
    async with PushService(vapid_public_key=VAPID_PUBLIC, subject=SUBJECT) as service:
        yield service


@pytest.fixture
async def hub():
    """A started channel with its routes mounted where the hub mounts them, and an HTTP client."""
    context = make_context("app", SETTINGS, channel_cls=AppChannel)
    context = replace(context, tips=Tips(make_action().id))
    channel = AppChannel(context)
    await channel.start()
    client = TestClient(TestServer(channel_routes_app("app", channel.web_routes()), host="127.0.0.1"))
    await client.start_server()
    try:
        yield channel, client
    finally:
        await client.close()
        await channel.close()


async def subscribe(client, device, push, regions, language="nl"):
    body = {**device.subscription(push.base_url), "regions": regions, "language": language}
    resp = await client.post("/v1/channels/app/subscriptions", json=body)
    assert resp.status in (200, 201), await resp.text()
    return (await resp.json())["id"]


def deliveries_for(recipients, kind=MessageKind.START, action_id=None):
    action_id = action_id or make_action().id
    return [Delivery(id=next(_ids), action_id=action_id, channel="app", kind=kind, recipient=r) for r in recipients]


async def test_start_reaches_installs_in_the_area_encrypted_and_signed(hub, push):
    channel, client = hub
    near_nl, near_en, far = push.new_device(), push.new_device(), push.new_device()
    id_nl = await subscribe(client, near_nl, push, [UTRECHT])
    id_en = await subscribe(client, near_en, push, [UTRECHT, cell_of(52.19, 5.11)], language="en")
    await subscribe(client, far, push, [GRONINGEN])

    action = make_action()
    recipients = await channel.resolve_audience(action)
    assert {r.address for r in recipients} == {id_nl, id_en}
    assert {r.address: r.language for r in recipients} == {id_nl: "nl", id_en: "en"}
    assert all(r.participant_id is None and not r.meta for r in recipients)

    batch = deliveries_for(recipients)
    receipts = await channel.deliver(Notice(action=action, kind=MessageKind.START), batch)

    assert push.problems == []
    assert sorted(r.delivery_id for r in receipts) == sorted(d.id for d in batch)
    assert all(r.status is ReceiptStatus.SENT and r.detail["push_message"].startswith(push.base_url) for r in receipts)
    by_token = {m.token: m for m in push.received}
    assert set(by_token) == {near_nl.token, near_en.token}
    for token, language in ((near_nl.token, "nl"), (near_en.token, "en")):
        message = by_token[token]
        body = message.payload
        assert body["action"] == action.id and body["kind"] == "start" and body["type"] == "missing_person"
        assert body["area"] == {"type": "circle", "lat": 52.0894, "lon": 5.11, "radius_m": 1500}
        assert body["urgency"] == "time_critical" and body["callback"] == "0800 0011"
        assert body["photos"] == ["https://img.example.org/boy.jpg"]
        assert body["tip_url"] == "http://127.0.0.1:8080/v1/channels/app/tips"
        assert "rode jas" in body["text"]
        assert message.headers["Urgency"] == "high"
        assert message.headers["TTL"] == "3600"
        assert message.claims["sub"] == SUBJECT
    assert by_token[near_nl.token].payload["text"].startswith("Hier volgt een oproep voor Burgernet")
    assert by_token[near_nl.token].payload["title"] == "Burgernet: Vermissing"
    assert by_token[near_en.token].payload["text"].startswith("This is a call from Burgernet")
    assert by_token[near_en.token].payload["title"] == "Burgernet: Missing person"
    # The same action gets the same Topic, so a newer message replaces one still queued for the device.
    assert by_token[near_nl.token].headers["Topic"] == by_token[near_en.token].headers["Topic"]


async def test_closing_message_is_normal_urgency_and_kept_longer(hub, push):
    channel, client = hub
    device = push.new_device()
    install = await subscribe(client, device, push, [UTRECHT])
    notice = Notice(action=make_action(result="found", result_text="Hij is veilig thuis."), kind=MessageKind.END)
    [receipt] = await channel.deliver(notice, deliveries_for(await channel.resolve_audience(notice.action), MessageKind.END))
    assert receipt.status is ReceiptStatus.SENT, receipt.error
    [message] = push.received
    assert message.headers["Urgency"] == "normal" and message.headers["TTL"] == "86400"
    assert message.payload["kind"] == "end" and message.payload["result"] == "found"
    assert "veilig thuis" in message.payload["text"] and install


async def test_time_critical_ttl_is_capped_by_the_action_expiry(hub, push):
    channel, _ = hub
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)
    action = make_action(expires_at=now + timedelta(minutes=20))
    headers = channel._headers(Notice(action=action, kind=MessageKind.START), now=now)
    assert headers["TTL"] == "1200" and headers["Urgency"] == "high"
    non_urgent = make_action(type="neighbourhood_inquiry", urgency=Urgency.NON_URGENT)
    assert channel._headers(Notice(action=non_urgent, kind=MessageKind.START))["Urgency"] == "normal"


@pytest.mark.parametrize("status", [404, 410])
async def test_expired_subscription_is_removed_and_final(hub, push, status):
    channel, client = hub
    gone, alive = push.new_device(), push.new_device()
    gone_id = await subscribe(client, gone, push, [UTRECHT])
    alive_id = await subscribe(client, alive, push, [UTRECHT])
    push.answers[gone.token] = (status, {})

    receipts = await channel.deliver(
        Notice(action=make_action(), kind=MessageKind.START), deliveries_for(await channel.resolve_audience(make_action()))
    )
    failed = [r for r in receipts if r.status is ReceiptStatus.FAILED]
    assert len(failed) == 1 and isinstance(failed[0].error, PermanentDeliveryError)
    assert failed[0].error.code == "subscription_expired" and failed[0].error.provider_status == status
    assert await channel.installs.get(gone_id) is None
    assert not [k for k in channel.context.records.data if k.endswith(gone_id)]
    assert [r.address for r in await channel.resolve_audience(make_action())] == [alive_id]


async def test_rate_limited_push_is_transient_with_retry_after(hub, push):
    channel, client = hub
    device = push.new_device()
    await subscribe(client, device, push, [UTRECHT])
    push.answers[device.token] = (429, {"Retry-After": "30"})
    [receipt] = await channel.deliver(
        Notice(action=make_action(), kind=MessageKind.START), deliveries_for(await channel.resolve_audience(make_action()))
    )
    assert receipt.status is ReceiptStatus.FAILED
    assert isinstance(receipt.error, TransientDeliveryError)
    assert receipt.error.retry_after == 30 and receipt.error.provider_status == 429


async def test_unreachable_push_service_is_transient(hub, push):
    channel, client = hub
    device = push.new_device()
    install = await subscribe(client, device, push, [UTRECHT])
    await push.server.close()
    [receipt] = await channel.deliver(Notice(action=make_action(), kind=MessageKind.START), deliveries_for(
        await channel.resolve_audience(make_action())))
    assert isinstance(receipt.error, TransientDeliveryError) and receipt.error.code == "network"
    assert await channel.installs.get(install) is not None


async def test_unsubscribed_install_fails_permanently_without_a_request(hub, push):
    channel, client = hub
    device = push.new_device()
    await subscribe(client, device, push, [UTRECHT])
    recipients = await channel.resolve_audience(make_action())
    resp = await client.delete("/v1/channels/app/subscriptions", json={"endpoint": device.subscription(push.base_url)["endpoint"]})
    assert resp.status == 204
    [receipt] = await channel.deliver(Notice(action=make_action(), kind=MessageKind.START), deliveries_for(recipients))
    assert isinstance(receipt.error, PermanentDeliveryError) and receipt.error.code == "unsubscribed"
    assert push.received == []


async def test_a_large_polygon_is_widened_to_fit_one_push_message(hub, push):
    channel, client = hub
    device = push.new_device()
    await subscribe(client, device, push, [UTRECHT])
    ring = tuple(
        (52.09 + 0.01 * math.sin(2 * math.pi * k / 400) * (1 + 0.3 * (k % 2)), 5.11 + 0.016 * math.cos(2 * math.pi * k / 400))
        for k in range(400)
    )
    action = make_action(area=Polygon(points=ring))
    [receipt] = await channel.deliver(Notice(action=action, kind=MessageKind.START), deliveries_for(await channel.resolve_audience(action)))
    assert receipt.status is ReceiptStatus.SENT and push.problems == []
    [message] = push.received
    assert message.body_size <= 4096
    area = message.payload["area"]
    assert area["type"] == "polygon" and area.get("approximate") is True
    lats, lons = [p[0] for p in area["points"]], [p[1] for p in area["points"]]
    # never smaller than the real area: the device errs towards alerting
    assert min(lats) <= min(p[0] for p in ring) + 1e-5 and max(lats) >= max(p[0] for p in ring) - 1e-5
    assert min(lons) <= min(p[1] for p in ring) + 1e-5 and max(lons) >= max(p[1] for p in ring) - 1e-5


# -- subscriptions -------------------------------------------------------------------------------


def _valid(push_base="http://127.0.0.1:1") -> dict:
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {
        "endpoint": f"{push_base}/push/abc",
        "keys": {"p256dh": b64u(point), "auth": b64u(b"0123456789abcdef")},
        "regions": [UTRECHT],
    }


def _without(doc, *path):
    target = doc
    for p in path[:-1]:
        target = target[p]
    del target[path[-1]]
    return doc


def _with(doc, value, *path):
    target = doc
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return doc


BAD_SUBSCRIPTIONS = [
    ("missing endpoint", lambda d: _without(d, "endpoint"), "endpoint"),
    ("missing keys", lambda d: _without(d, "keys"), "keys"),
    ("missing auth", lambda d: _without(d, "keys", "auth"), "keys.auth"),
    ("missing regions", lambda d: _without(d, "regions"), "regions"),
    ("empty regions", lambda d: _with(d, [], "regions"), "regions"),
    ("unknown field", lambda d: _with(d, "51.9,4.4", "location"), "location"),
    ("precise location as a region", lambda d: _with(d, ["r:52.0894:5.1100"], "regions"), "regions.0"),
    ("non-canonical region", lambda d: _with(d, [UTRECHT, "r:-0.0:5.1"], "regions"), "regions.1"),
    ("region off the earth", lambda d: _with(d, ["r:95.0:5.1"], "regions"), "regions.0"),
    ("bad language", lambda d: _with(d, "de", "language"), "language"),
    ("p256dh not a point", lambda d: _with(d, b64u(b"\x04" + b"\x01" * 64), "keys", "p256dh"), "keys.p256dh"),
    ("auth too short", lambda d: _with(d, b64u(b"short-secret-12345"), "keys", "auth"), "keys.auth"),
    ("push host not allowed", lambda d: _with(d, "http://169.254.169.254/latest/meta-data", "endpoint"), "endpoint"),
    ("not a URL", lambda d: _with(d, "ftp://127.0.0.1/x", "endpoint"), "endpoint"),
]


@pytest.mark.parametrize("case, mutate, field", BAD_SUBSCRIPTIONS, ids=[c[0] for c in BAD_SUBSCRIPTIONS])
async def test_bad_subscriptions_are_refused_naming_the_field(hub, case, mutate, field):
    channel, client = hub
    resp = await client.post("/v1/channels/app/subscriptions", json=mutate(_valid()))
    assert resp.status == 400, case
    body = await resp.json()
    assert body["error"] == "validation_error" and body["field"] == field, body
    assert channel.context.records.data == {}


async def test_too_many_regions_and_non_json_are_refused(hub):
    channel, client = hub
    doc = _valid()
    doc["regions"] = [cell_of(50 + i / 10, 5.0) for i in range(channel.max_regions + 1)]
    resp = await client.post("/v1/channels/app/subscriptions", json=doc)
    assert resp.status == 400 and (await resp.json())["field"] == f"regions.{channel.max_regions}"
    resp = await client.post("/v1/channels/app/subscriptions", data=b"{nope", headers={"Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["field"] == "(root)"


async def test_https_is_required_unless_the_operator_allows_http():
    channel = AppChannel(make_context("app", {"allowed_push_hosts": ["push.example.org"]}, sandbox=True))
    assert channel.endpoint_problem("http://push.example.org/x") == "push endpoints must use https"
    assert channel.endpoint_problem("https://push.example.org/x") is None
    assert channel.endpoint_problem("https://eu.push.example.org/x") is None
    assert "not allowed" in channel.endpoint_problem("https://push.example.org.evil.test/x")
    default = AppChannel(make_context("app", {}, sandbox=True))
    assert default.endpoint_problem("https://fcm.googleapis.com/fcm/send/abc") is None
    assert default.endpoint_problem("https://updates.push.services.mozilla.com/wpush/v2/abc") is None


async def test_resubscribing_moves_the_install_to_its_new_cells(hub, push):
    channel, client = hub
    device = push.new_device()
    first = await subscribe(client, device, push, [GRONINGEN])
    assert await channel.resolve_audience(make_action()) == []
    body = {**device.subscription(push.base_url), "regions": [UTRECHT]}
    resp = await client.post("/v1/channels/app/subscriptions", json=body)
    assert resp.status == 200 and (await resp.json())["id"] == first
    assert [r.address for r in await channel.resolve_audience(make_action())] == [first]
    far = make_action(area=Circle(lat=53.2194, lon=6.5665, radius_m=500))
    assert await channel.resolve_audience(far) == []
    stored = await channel.installs.get(first)
    assert stored["regions"] == [UTRECHT] and "lat" not in str(stored)


async def test_unsubscribe_needs_the_endpoint(hub, push):
    _, client = hub
    device = push.new_device()
    install = await subscribe(client, device, push, [UTRECHT])
    resp = await client.delete("/v1/channels/app/subscriptions", json={"endpoint": install})
    assert resp.status == 404
    resp = await client.delete("/v1/channels/app/subscriptions", json={})
    assert resp.status == 400 and (await resp.json())["field"] == "endpoint"


async def test_config_gives_the_application_server_key(hub):
    _, client = hub
    resp = await client.get("/v1/channels/app/config")
    body = await resp.json()
    assert body["vapid_public_key"] == VAPID_PUBLIC
    assert body["grid"]["example"] == "r:52.0:5.1"


# -- tips -----------------------------------------------------------------------------------------


def png(width=2, height=2) -> bytes:
    def chunk(kind, data):
        return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack("!IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def tip_form(action_id, text=None, photo=None, content_type="image/png"):
    form = aiohttp.FormData()
    form.add_field("action_id", action_id)
    if text is not None:
        form.add_field("text", text)
    if photo is not None:
        form.add_field("photo", io.BytesIO(photo), filename="foto.png", content_type=content_type)
    return form


async def test_tip_with_photo_round_trip(hub):
    channel, client = hub
    photo = png()
    resp = await client.post("/v1/channels/app/tips", data=tip_form(make_action().id, "Jongen met rode jas bij de Dom", photo))
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["id"] == "tip-1"
    [tip] = channel.context.tips.tips
    assert tip.action_id == make_action().id and tip.channel == "app"
    assert tip.text == "Jongen met rode jas bij de Dom"
    assert tip.photo == photo and tip.photo_type == "image/png"
    assert tip.participant_id is None and tip.sender is None


async def test_tip_photo_type_comes_from_its_bytes_not_its_label(hub):
    channel, client = hub
    resp = await client.post("/v1/channels/app/tips", data=tip_form(make_action().id, "x", b"MZ\x90\x00" * 64, "image/jpeg"))
    assert resp.status == 415 and (await resp.json())["field"] == "photo"
    jpeg = tiny_image("image/jpeg")
    resp = await client.post("/v1/channels/app/tips", data=tip_form(make_action().id, None, jpeg, "application/octet-stream"))
    assert resp.status == 201
    assert channel.context.tips.tips[-1].photo_type == "image/jpeg"


async def test_tip_limits(hub):
    channel, client = hub
    big = png() + b"\x00" * (channel.max_photo_bytes + 1)
    resp = await client.post("/v1/channels/app/tips", data=tip_form(make_action().id, "te groot", big))
    assert resp.status == 413 and (await resp.json())["field"] == "photo"
    resp = await client.post("/v1/channels/app/tips", data=tip_form("act-unknown", "gezien"))
    assert resp.status == 404
    resp = await client.post("/v1/channels/app/tips", data=tip_form(make_action().id, "   "))
    assert resp.status == 400 and (await resp.json())["field"] == "text"
    resp = await client.post("/v1/channels/app/tips", data=tip_form("", "gezien"))
    assert resp.status == 400 and (await resp.json())["field"] == "action_id"
    resp = await client.post("/v1/channels/app/tips", json={"action_id": make_action().id, "text": "x"})
    assert resp.status == 415
    assert channel.context.tips.tips == []


# -- sandbox and settings -------------------------------------------------------------------------


async def test_sandbox_renders_the_payload_without_a_key():
    channel = AppChannel(make_context("app", {}, sandbox=True, channel_cls=AppChannel))
    await channel.start()
    try:
        from hub.models import Recipient

        rendered = channel.render(Notice(action=make_action(), kind=MessageKind.UPDATE), Recipient(address="i", language="en"))
        assert rendered.subject.startswith("Burgernet: update")
        assert rendered.extra["payload"]["kind"] == "update"
        assert rendered.extra["payload"]["area"]["type"] == "circle"
    finally:
        await channel.close()


@pytest.mark.parametrize(
    "settings",
    [{"vapid_private_key": "not-a-key", "vapid_subject": SUBJECT}, {"vapid_private_key": VAPID_PRIVATE}, {}],
    ids=["bad key", "no subject", "no key outside the sandbox"],
)
async def test_start_refuses_unusable_vapid_settings(settings):
    from hub.errors import PluginError

    channel = AppChannel(make_context("app", settings, sandbox=False))
    with pytest.raises(PluginError):
        await channel.start()
    await channel.close()


def test_pem_keys_are_accepted():
    from plugins.app.push import VapidSigner

    pem = _VAPID.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert VapidSigner(pem.decode(), SUBJECT).public_key == VAPID_PUBLIC
    assert base64.urlsafe_b64decode(VAPID_PUBLIC + "=")[0] == 4


async def test_one_unusable_install_does_not_fail_the_batch(hub, push):
    channel, client = hub
    good = push.new_device()
    good_id = await subscribe(client, good, push, [UTRECHT])
    odd = push.new_device().subscription("http://[::1]:9")  # py_vapid cannot put an IPv6 origin in "aud"
    odd_id, _ = await channel.installs.save(odd["endpoint"], odd["keys"], [UTRECHT], "nl")
    receipts = await channel.deliver(
        Notice(action=make_action(), kind=MessageKind.START), deliveries_for(await channel.resolve_audience(make_action()))
    )
    assert len(receipts) == 2
    by_status = {r.status: r for r in receipts}
    assert by_status[ReceiptStatus.SENT].provider_id and len(push.received) == 1
    failed = by_status[ReceiptStatus.FAILED]
    assert isinstance(failed.error, PermanentDeliveryError) and failed.error.code == "vapid_error"
    assert {good_id, odd_id} == {r.address for r in await channel.resolve_audience(make_action())}
