"""The webhook channel against a real HTTP server on 127.0.0.1: signature, bodies, retries, redirects, SSRF."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import time
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import plugins.webhook as webhook
from hub.errors import PermanentDeliveryError, PluginError, TransientDeliveryError
from hub.models import Circle, MessageKind, Photo, Polygon, ReceiptStatus, Recipient, Result
from hub.testing import make_context, make_deliveries, make_notice, started
from plugins.webhook import WebhookChannel

SECRET = "s3cret-s3cret-s3cret"


class Receiver:
    """An endpoint that records what it gets and answers as each path says."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.app = web.Application()
        self.app.router.add_post("/hook", self.ok)
        self.app.router.add_post("/status/{code}", self.status)
        self.app.router.add_post("/redirect/{n}", self.redirect)
        self.app.router.add_post("/moved", self.moved)
        self.app.router.add_post("/see-other", self.see_other)
        self.app.router.add_post("/elsewhere", self.elsewhere)
        self.app.router.add_post("/slow", self.slow)
        self.app.router.add_post("/chatty", self.chatty)

    async def _record(self, request: web.Request) -> None:
        self.requests.append((request.path, dict(request.headers), await request.read()))

    async def ok(self, request):
        await self._record(request)
        return web.Response(text="ok")

    async def status(self, request):
        await self._record(request)
        headers = {"Retry-After": request.query["retry_after"]} if "retry_after" in request.query else {}
        return web.Response(status=int(request.match_info["code"]), text="no_service", headers=headers)

    async def redirect(self, request):
        n = int(request.match_info["n"])
        return await self._redirect(request, f"/redirect/{n - 1}" if n > 1 else "/hook", 307)

    async def _redirect(self, request, location, code):
        await self._record(request)
        return web.Response(status=code, headers={"Location": location})

    async def moved(self, request):
        return await self._redirect(request, "/hook", 301)

    async def elsewhere(self, request):
        return await self._redirect(request, "http://127.0.0.2:9/hook", 307)

    async def see_other(self, request):
        await self._record(request)
        return web.Response(status=303, headers={"Location": "/somewhere"})

    async def slow(self, request):
        await asyncio.sleep(1)
        return web.Response(text="late")

    async def chatty(self, request):
        return web.Response(status=400, body=b"x" * 1_000_000)


@pytest.fixture
async def receiver():
    r = Receiver()
    server = TestServer(r.app, host="127.0.0.1")
    await server.start_server()
    r.url = lambda path: str(server.make_url(path))
    try:
        yield r
    finally:
        await server.close()


def channel_for(endpoints, **settings) -> WebhookChannel:
    settings = {"endpoints": endpoints, "allow_private_addresses": True, "timeout": 5, **settings}
    jsonschema.Draft202012Validator(WebhookChannel.settings_schema).validate(settings)
    return WebhookChannel(make_context("webhook", settings, channel_cls=WebhookChannel))


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: float = 300) -> bool:
    """A receiver's check, written from the README, not from the channel's code."""
    timestamp = headers["X-Burgerhub-Timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + expected, headers["X-Burgerhub-Signature"])


async def deliver_one(channel, notice=None, address="bridge", **kw):
    notice = notice or make_notice()
    [delivery] = make_deliveries([address], channel="webhook", kind=notice.kind, **kw)
    [receipt] = await channel.deliver(notice, [delivery])
    assert receipt.delivery_id == delivery.id
    return delivery, receipt


# -- the json format ---------------------------------------------------------------------------


async def test_json_body_is_signed_and_complete(receiver):
    channel = channel_for([{"name": "bridge", "url": receiver.url("/hook"), "secret": SECRET}])
    async with started(channel):
        delivery, receipt = await deliver_one(channel, attempt=2)
    assert receipt.status is ReceiptStatus.SENT, receipt.error
    [(path, headers, body)] = receiver.requests
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("burgerhub/")
    assert headers["X-Burgerhub-Signature"].startswith("sha256=")
    assert verify(SECRET, headers, body)
    assert not verify("another-secret-entirely", headers, body)
    assert not verify(SECRET, headers, body.replace(b"rode jas", b"gele jas"))
    stale = {**headers, "X-Burgerhub-Timestamp": str(int(headers["X-Burgerhub-Timestamp"]) - 3600)}
    assert not verify(SECRET, stale, body), "a replay of an old copy must fail"

    data = json.loads(body)
    assert data["event"] == "action.start" and data["kind"] == "start"
    assert data["delivery"] == {"id": delivery.id, "attempt": 2}
    action = data["action"]
    assert action["id"] == "act-01HZX0TEST7Q2K" and action["reference"] == "ST7Q2K"
    assert (action["type"], action["urgency"], action["region"]) == ("missing_person", "time_critical", "utrecht")
    assert action["area"] == {"kind": "circle", "lat": 52.0894, "lon": 5.11, "radius_m": 1500}
    assert action["photos"] == [{"url": "https://img.example.org/boy.jpg", "caption": "Foto"}]
    assert action["result"] is None
    assert data["text"]["nl"].startswith("Hier volgt een oproep voor Burgernet.")
    assert "rode jas" in data["text"]["nl"]
    assert data["text"]["en"] and data["text"]["en"] != data["text"]["nl"]


async def test_closing_message_carries_the_result(receiver):
    channel = channel_for([{"name": "bridge", "url": receiver.url("/hook"), "secret": SECRET}])
    notice = make_notice(
        MessageKind.END, result=Result.FOUND, result_text="De jongen is terecht.",
        area=Polygon(points=((52.0, 5.0), (52.1, 5.0), (52.1, 5.1))),
    )
    async with started(channel):
        _, receipt = await deliver_one(channel, notice)
    assert receipt.status is ReceiptStatus.SENT
    data = json.loads(receiver.requests[0][2])
    assert data["event"] == "action.end"
    assert data["action"]["result"] == "found"
    assert data["action"]["result_text"] == "De jongen is terecht."
    assert data["action"]["area"] == {"kind": "polygon", "points": [[52.0, 5.0], [52.1, 5.0], [52.1, 5.1]]}
    assert "De jongen is terecht." in data["text"]["nl"]


# -- the slack format --------------------------------------------------------------------------


async def test_slack_format_sends_escaped_text(receiver):
    channel = channel_for([{"name": "team", "url": receiver.url("/hook"), "format": "slack", "language": "en"}])
    notice = make_notice(description="Man <!channel> & dog", photos=(Photo(url="https://img.example.org/a.jpg?x=1&y=2"),))
    async with started(channel):
        _, receipt = await deliver_one(channel, notice, address="team", language="en")
    assert receipt.status is ReceiptStatus.SENT
    [(_, headers, body)] = receiver.requests
    data = json.loads(body)
    assert list(data) == ["text"]
    assert "Man &lt;!channel&gt; &amp; dog" in data["text"]
    assert "<!channel>" not in data["text"]
    assert data["text"].endswith("https://img.example.org/a.jpg?x=1&amp;y=2")
    assert "Burgernet" in data["text"] and "look out" in data["text"].lower()
    assert "X-Burgerhub-Signature" not in headers  # no secret configured: nothing to sign with


# -- how failures are classified ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path, kind, retry_after, code",
    [
        ("/status/429?retry_after=7", TransientDeliveryError, 7.0, "http_429"),
        ("/status/503?retry_after=120", TransientDeliveryError, 120.0, "http_503"),
        ("/status/500", TransientDeliveryError, None, "http_500"),
        ("/status/429?retry_after=999999", TransientDeliveryError, 3600.0, "http_429"),
        ("/status/408", TransientDeliveryError, None, "http_408"),
        ("/status/404", PermanentDeliveryError, None, "http_404"),
        ("/status/410", PermanentDeliveryError, None, "http_410"),
        ("/status/400", PermanentDeliveryError, None, "http_400"),
        ("/status/401", PermanentDeliveryError, None, "http_401"),
    ],
)
async def test_status_codes_are_classified(receiver, path, kind, retry_after, code):
    channel = channel_for([{"name": "bridge", "url": receiver.url(path), "secret": SECRET}])
    async with started(channel):
        _, receipt = await deliver_one(channel)
    assert receipt.status is ReceiptStatus.FAILED
    assert type(receipt.error) is kind
    assert receipt.error.code == code
    assert receipt.error.provider_status == int(code.removeprefix("http_"))
    assert "no_service" in receipt.error.reason
    if kind is TransientDeliveryError:
        assert receipt.error.retry_after == retry_after


async def test_retry_after_as_an_http_date(receiver):
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=90), usegmt=True)
    assert 80 <= webhook.retry_after(when) <= 90
    assert webhook.retry_after("soon") is None
    assert webhook.retry_after("-5") == 0.0


async def test_a_timeout_is_transient(receiver):
    channel = channel_for([{"name": "bridge", "url": receiver.url("/slow"), "secret": SECRET}], timeout=0.2)
    async with started(channel):
        _, receipt = await deliver_one(channel)
    assert isinstance(receipt.error, TransientDeliveryError)
    assert receipt.error.code == "timeout"


async def test_a_refused_connection_is_transient(receiver):
    channel = channel_for([{"name": "bridge", "url": "http://127.0.0.1:9/hook", "secret": SECRET}])
    async with started(channel):
        _, receipt = await deliver_one(channel)
    assert isinstance(receipt.error, TransientDeliveryError)
    assert receipt.error.code == "connection"


async def test_an_error_body_is_read_only_in_part(receiver):
    channel = channel_for([{"name": "bridge", "url": receiver.url("/chatty"), "secret": SECRET}])
    async with started(channel):
        _, receipt = await deliver_one(channel)
    assert isinstance(receipt.error, PermanentDeliveryError)
    assert len(receipt.error.reason) < 300


async def test_an_endpoint_removed_from_the_settings_fails_permanently(receiver):
    channel = channel_for([{"name": "bridge", "url": receiver.url("/hook"), "secret": SECRET}])
    async with started(channel):
        _, receipt = await deliver_one(channel, address="gone")
    assert isinstance(receipt.error, PermanentDeliveryError)
    assert receipt.error.code == "unknown_endpoint"
    assert receiver.requests == []


async def test_endpoints_in_one_batch_fail_independently(receiver):
    channel = channel_for([
        {"name": "good", "url": receiver.url("/hook"), "secret": SECRET},
        {"name": "busy", "url": receiver.url("/status/503"), "secret": SECRET},
    ])
    notice = make_notice()
    deliveries = make_deliveries(["good", "busy"], channel="webhook")
    async with started(channel):
        receipts = {r.delivery_id: r for r in await channel.deliver(notice, deliveries)}
    assert receipts[deliveries[0].id].status is ReceiptStatus.SENT
    assert isinstance(receipts[deliveries[1].id].error, TransientDeliveryError)


# -- redirects ---------------------------------------------------------------------------------


async def test_redirects_are_followed_with_the_same_signed_body(receiver):
    channel = channel_for([{"name": "bridge", "url": receiver.url("/redirect/3"), "secret": SECRET}])
    async with started(channel):
        _, receipt = await deliver_one(channel)
    assert receipt.status is ReceiptStatus.SENT, receipt.error
    paths = [p for p, _, _ in receiver.requests]
    assert paths == ["/redirect/3", "/redirect/2", "/redirect/1", "/hook"]
    _, headers, body = receiver.requests[-1]
    assert json.loads(body)["action"]["id"] == "act-01HZX0TEST7Q2K"
    assert verify(SECRET, headers, body)


async def test_a_301_re_posts_and_a_303_means_accepted(receiver):
    channel = channel_for([
        {"name": "moved", "url": receiver.url("/moved"), "secret": SECRET},
        {"name": "other", "url": receiver.url("/see-other"), "secret": SECRET},
    ])
    async with started(channel):
        _, moved = await deliver_one(channel, address="moved")
        _, other = await deliver_one(channel, address="other")
    assert moved.status is other.status is ReceiptStatus.SENT
    assert [(p, len(b) > 0) for p, _, b in receiver.requests] == [("/moved", True), ("/hook", True), ("/see-other", True)]


async def test_more_than_three_redirects_is_permanent(receiver):
    channel = channel_for([{"name": "bridge", "url": receiver.url("/redirect/4"), "secret": SECRET}])
    async with started(channel):
        _, receipt = await deliver_one(channel)
    assert isinstance(receipt.error, PermanentDeliveryError)
    assert receipt.error.code == "redirects"
    assert len(receiver.requests) == 4


# -- SSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:{port}/hook", "http://localhost:{port}/hook", "http://[::1]:{port}/hook",
     "http://[::ffff:127.0.0.1]:{port}/hook"],
)
async def test_loopback_is_refused_without_allow_private_addresses(receiver, url):
    port = receiver.url("/").split(":")[2].split("/")[0]
    channel = channel_for([{"name": "bridge", "url": url.format(port=port), "secret": SECRET}],
                          allow_private_addresses=False)
    async with started(channel):
        _, receipt = await deliver_one(channel)
    assert isinstance(receipt.error, PermanentDeliveryError)
    assert receipt.error.code == "forbidden_address"
    assert "not a public address" in receipt.error.reason
    assert receiver.requests == [], "nothing may reach the refused address"


async def test_a_redirect_is_checked_again(receiver, monkeypatch):
    # Pretend 127.0.0.1 is public so the first hop goes through; the redirect points to 127.0.0.2,
    # which must be refused before any connection is made.
    monkeypatch.setattr(webhook, "is_public", lambda a: a == ipaddress.ip_address("127.0.0.1"))
    channel = channel_for([{"name": "bridge", "url": receiver.url("/elsewhere"), "secret": SECRET}],
                          allow_private_addresses=False)
    async with started(channel):
        _, receipt = await deliver_one(channel)
    assert [p for p, _, _ in receiver.requests] == ["/elsewhere"]
    assert isinstance(receipt.error, PermanentDeliveryError)
    assert receipt.error.code == "forbidden_address"
    assert "127.0.0.2" in receipt.error.reason


@pytest.mark.parametrize(
    "address, public",
    [
        ("8.8.8.8", True), ("2001:4860:4860::8888", True),
        ("127.0.0.1", False), ("10.0.0.1", False), ("172.16.5.4", False), ("192.168.1.1", False),
        ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
        ("::1", False), ("fe80::1", False), ("fd00:ec2::254", False), ("::", False),
        ("::ffff:127.0.0.1", False), ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::1", False), ("64:ff9b::a9fe:a9fe", False), ("64:ff9b::808:808", True),
    ],
)
def test_which_addresses_are_public(address, public):
    assert webhook.is_public(ipaddress.ip_address(address)) is public


async def test_only_http_urls_are_called():
    channel = channel_for([{"name": "bridge", "url": "http://x.invalid/", "secret": SECRET}])
    async with started(channel):
        with pytest.raises(PermanentDeliveryError, match="not an http"):
            await channel._check(webhook.httpx.URL("file:///etc/passwd"))


# -- audience, rendering, settings -------------------------------------------------------------


async def test_one_recipient_per_interested_endpoint(sample_action):
    channel = channel_for([
        {"name": "all", "url": "https://hooks.example.org/a", "secret": SECRET},
        {"name": "utrecht", "url": "https://hooks.example.org/b", "secret": SECRET, "regions": ["utrecht"]},
        {"name": "limburg", "url": "https://hooks.example.org/c", "secret": SECRET, "regions": ["limburg"]},
        {"name": "burglaries", "url": "https://hooks.example.org/d", "secret": SECRET, "types": ["burglary"]},
        {"name": "team", "url": "https://hooks.slack.example/x", "format": "slack", "language": "en"},
    ])
    recipients = await channel.resolve_audience(sample_action())
    assert [(r.address, r.language, r.participant_id) for r in recipients] == [
        ("all", "nl", None), ("utrecht", "nl", None), ("team", "en", None)
    ]
    burglary = await channel.resolve_audience(sample_action(type="burglary", region=None))
    assert [r.address for r in burglary] == ["all", "burglaries", "team"]


def test_render_shows_what_would_be_posted():
    channel = channel_for([{"name": "team", "url": "https://hooks.slack.example/x", "format": "slack"}])
    notice = make_notice()
    as_json = channel.render(notice, Recipient(address="sandbox-only"))
    assert as_json.extra["payload"]["action"]["type"] == "missing_person"
    json.dumps(as_json.extra)  # the sandbox outbox stores it as JSON
    as_slack = channel.render(notice, Recipient(address="team"))
    assert as_slack.extra["payload"] == {"text": as_slack.text + "\nhttps://img.example.org/boy.jpg"}


def test_describe_names_endpoints_but_never_their_urls_or_secrets():
    channel = channel_for([{"name": "bridge", "url": "https://hooks.example.org/very-secret-path", "secret": SECRET}])
    described = json.dumps(channel.describe())
    assert "bridge" in described
    assert "very-secret-path" not in described and SECRET not in described


@pytest.mark.parametrize(
    "settings, ok",
    [
        ({}, True),
        ({"endpoints": [{"name": "a", "url": "https://h.example/x", "secret": SECRET}]}, True),
        ({"endpoints": [{"name": "a", "url": "https://h.example/x", "format": "slack"}]}, True),
        ({"endpoints": [{"name": "a", "url": "https://h.example/x"}]}, False),  # json needs a secret
        ({"endpoints": [{"name": "a", "url": "https://h.example/x", "secret": "short"}]}, False),
        ({"endpoints": [{"name": "a", "url": "ftp://h.example/x", "secret": SECRET}]}, False),
        ({"endpoints": [{"name": "A B", "url": "https://h.example/x", "secret": SECRET}]}, False),
        ({"endpoints": [{"name": "a", "url": "https://h.example/x", "secret": SECRET, "format": "xml"}]}, False),
        ({"endpoints": [{"name": "a", "url": "https://h.example/x", "secret": SECRET, "types": ["plane"]}]}, False),
        ({"endpoints": [{"name": "a", "url": "https://h.example/x", "secret": SECRET, "colour": "red"}]}, False),
        ({"timeout": 0}, False),
        ({"allow_private_addresses": "yes"}, False),
    ],
)
def test_settings_schema(settings, ok):
    errors = list(jsonschema.Draft202012Validator(WebhookChannel.settings_schema).iter_errors(settings))
    assert (not errors) is ok, errors


def test_secrets_are_marked_private():
    endpoint = WebhookChannel.settings_schema["$defs"]["endpoint"]["properties"]
    assert endpoint["secret"]["private"] is True
    assert endpoint["url"]["private"] is True


async def test_duplicate_endpoint_names_stop_the_start():
    endpoint = {"name": "a", "url": "https://h.example/x", "secret": SECRET}
    channel = channel_for([endpoint, dict(endpoint)])
    with pytest.raises(PluginError, match="unique"):
        async with started(channel):
            pass


async def test_circle_area_with_transport_is_plain_json(receiver):
    channel = channel_for([{"name": "bridge", "url": receiver.url("/hook"), "secret": SECRET}])
    notice = make_notice(area=Circle(lat=51.0, lon=4.0, radius_m=2000, transport="car"))
    async with started(channel):
        await deliver_one(channel, notice)
    assert json.loads(receiver.requests[0][2])["action"]["area"] == {
        "kind": "circle", "lat": 51.0, "lon": 4.0, "radius_m": 2000
    }


# -- TLS while pinned to the checked address ---------------------------------------------------


def self_signed(tmp_path, name: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


@pytest.mark.parametrize("certified_name, ok", [("localhost", True), ("hooks.example.org", False)])
async def test_https_verifies_the_certificate_against_the_name_not_the_pinned_address(tmp_path, certified_name, ok):
    import ssl

    cert_file, key_file = self_signed(tmp_path, certified_name)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    r = Receiver()
    runner = web.AppRunner(r.app)
    await runner.setup()
    site = web.TCPSite(runner, "localhost", 0, ssl_context=server_tls)  # every address localhost has
    await site.start()
    port = runner.addresses[0][1]
    channel = channel_for([{"name": "bridge", "url": f"https://localhost:{port}/hook", "secret": SECRET}])
    try:
        async with started(channel):
            await channel.client.aclose()  # the same client, trusting only the test's certificate
            channel.client = webhook.httpx.AsyncClient(
                verify=ssl.create_default_context(cafile=cert_file), follow_redirects=False, trust_env=False
            )
            _, receipt = await deliver_one(channel)
    finally:
        await runner.cleanup()
    if ok:
        assert receipt.status is ReceiptStatus.SENT, receipt.error
        [(_, headers, body)] = r.requests
        assert headers["Host"] == f"localhost:{port}"
        assert verify(SECRET, headers, body)
    else:
        assert isinstance(receipt.error, TransientDeliveryError)
        assert "certificate" in receipt.error.reason.lower()
        assert r.requests == []
