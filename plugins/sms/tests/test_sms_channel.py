"""The SMS channel against loopback implementations of Twilio's Messages API and CM's JSON gateway."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any, AsyncIterator

import aiohttp
import jsonschema
import pytest
from aiohttp import web

from hub.errors import PermanentDeliveryError, PluginError, TransientDeliveryError
from hub.models import MessageKind, ReceiptStatus, Recipient, Tip
from hub.testing import channel_routes_app, make_context, make_deliveries, make_notice, started
from plugins.sms import SmsChannel, gsm, signing
from plugins.sms.loopback import LoopbackSmsProvider
from hub.retry import parse_retry_after

NL_MOBILE = "+31612345678"


@pytest.fixture
async def provider() -> AsyncIterator[LoopbackSmsProvider]:
    async with LoopbackSmsProvider() as p:
        yield p


def twilio_settings(provider: LoopbackSmsProvider, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "twilio",
        "base_url": provider.base_url,
        "account_sid": provider.account_sid,
        "auth_token": provider.auth_token,
        "sender": "+3197010000000",
        **extra,
    }


def cm_settings(provider: LoopbackSmsProvider, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "cm",
        "base_url": provider.base_url,
        "product_token": provider.product_token,
        "sender": "Burgernet",
        **extra,
    }


@contextlib.asynccontextmanager
async def hub(settings: dict[str, Any]) -> AsyncIterator[tuple[SmsChannel, Any]]:
    """A started channel with its web routes served where ``context.url()`` says they are."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ctx = make_context("sms", settings, channel_cls=SmsChannel, public_url=f"http://127.0.0.1:{port}")
    channel = SmsChannel(ctx)
    app = channel_routes_app("sms", channel.web_routes())  # as hub/api mounts it
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        async with started(channel):
            yield channel, ctx
    finally:
        await runner.cleanup()


# -- Twilio ------------------------------------------------------------------------------------


async def test_twilio_sends_one_message_per_recipient(provider):
    async with hub(twilio_settings(provider)) as (channel, ctx):
        notice = make_notice()
        batch = make_deliveries([NL_MOBILE], channel="sms")
        receipts = await channel.deliver(notice, batch)
    assert [r.status for r in receipts] == [ReceiptStatus.SENT]
    assert receipts[0].delivery_id == batch[0].id
    [message] = provider.messages
    assert receipts[0].provider_id == message["sid"] and message["sid"].startswith("SM")
    assert message["To"] == NL_MOBILE and message["From"] == "+3197010000000"
    assert message["Body"] == channel.render(notice, batch[0].recipient).text
    assert "Bel gratis 0800 0011." in message["Body"]
    assert message["StatusCallback"] == ctx.url("status")


async def test_twilio_can_send_through_a_messaging_service_with_a_validity(provider):
    settings = twilio_settings(provider, messaging_service_sid="MG" + "1" * 32, validity_minutes=30)
    del settings["sender"]
    async with hub(settings) as (channel, _):
        await channel.deliver(make_notice(), make_deliveries([NL_MOBILE], channel="sms"))
    assert provider.messages[0]["From"] == "MG" + "1" * 32
    assert provider.messages[0]["ValidityPeriod"] == "1800"


async def test_twilio_429_is_transient_with_retry_after(provider):
    provider.fail_next(429, retry_after="7")
    async with hub(twilio_settings(provider)) as (channel, _):
        with pytest.raises(TransientDeliveryError) as info:
            await channel.deliver(make_notice(), make_deliveries([NL_MOBILE], channel="sms"))
        assert info.value.retry_after == 7.0
        assert info.value.code == "rate_limited" and info.value.provider_status == 429
        # the provider recovered: the retry goes through
        receipts = await channel.deliver(make_notice(), make_deliveries([NL_MOBILE], channel="sms"))
    assert receipts[0].status is ReceiptStatus.SENT


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_twilio_5xx_is_transient(provider, status):
    provider.fail_next(status)
    async with hub(twilio_settings(provider)) as (channel, _):
        with pytest.raises(TransientDeliveryError) as info:
            await channel.deliver(make_notice(), make_deliveries([NL_MOBILE], channel="sms"))
    assert info.value.code == "provider_unavailable" and info.value.provider_status == status
    assert provider.messages == []


@pytest.mark.parametrize(
    "number, code",
    [("+31600000000", "twilio_21211"), ("0612345678", "twilio_21211"), ("+31301234567", "twilio_21614")],
)
async def test_twilio_invalid_numbers_fail_permanently_per_recipient(provider, number, code):
    provider.invalid.add("+31600000000")
    provider.landlines.add("+31301234567")
    async with hub(twilio_settings(provider)) as (channel, _):
        [receipt] = await channel.deliver(make_notice(), make_deliveries([number], channel="sms"))
    assert receipt.status is ReceiptStatus.FAILED
    assert isinstance(receipt.error, PermanentDeliveryError)
    assert receipt.error.code == code and receipt.error.provider_status == 400


async def test_twilio_wrong_credentials_are_transient(provider):
    settings = twilio_settings(provider, auth_token="wrong")
    async with hub(settings) as (channel, _):
        with pytest.raises(TransientDeliveryError) as info:
            await channel.deliver(make_notice(), make_deliveries([NL_MOBILE], channel="sms"))
    assert info.value.code == "auth" and info.value.provider_status == 401


async def test_twilio_bigger_batches_give_one_receipt_each(provider):
    provider.invalid.add("+31600000000")
    provider.fail_next(429, retry_after="3")
    numbers = [f"+3161234{i:04d}" for i in range(9)] + ["+31600000000"]
    async with hub(twilio_settings(provider)) as (channel, _):
        batch = make_deliveries(numbers, channel="sms")
        receipts = await channel.deliver(make_notice(), batch)
    assert sorted(r.delivery_id for r in receipts) == sorted(d.id for d in batch)
    by_status: dict[Any, list] = {}
    for r in receipts:
        by_status.setdefault((r.status, type(r.error).__name__ if r.error else None), []).append(r)
    assert len(by_status[(ReceiptStatus.SENT, None)]) == 8
    assert len(by_status[(ReceiptStatus.FAILED, "PermanentDeliveryError")]) == 1
    [limited] = by_status[(ReceiptStatus.FAILED, "TransientDeliveryError")]
    assert limited.error.retry_after == 3.0


async def test_connection_errors_and_timeouts_are_transient():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    settings = {"base_url": f"http://127.0.0.1:{closed_port}", "account_sid": "AC1", "auth_token": "t", "sender": "+31970"}
    async with hub(settings) as (channel, _):
        with pytest.raises(TransientDeliveryError) as info:
            await channel.deliver(make_notice(), make_deliveries([NL_MOBILE], channel="sms"))
    assert info.value.code == "connection"

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"sid": "SMlate"}, status=201)

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/AC1/Messages.json", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        settings = {**settings, "base_url": f"http://127.0.0.1:{port}", "timeout": 0.2}
        async with hub(settings) as (channel, _):
            with pytest.raises(TransientDeliveryError) as info:
                await channel.deliver(make_notice(), make_deliveries([NL_MOBILE], channel="sms"))
        assert info.value.code == "timeout"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "status, error_code, expected, reason, permanent",
    [
        ("sent", None, ReceiptStatus.SENT, None, True),
        ("delivered", None, ReceiptStatus.DELIVERED, None, True),
        ("undelivered", "30003", ReceiptStatus.FAILED, "undelivered (Twilio error 30003)", True),
        ("failed", "30005", ReceiptStatus.FAILED, "failed (Twilio error 30005)", True),
        ("failed", "30001", ReceiptStatus.FAILED, "failed (Twilio error 30001)", False),
    ],
)
async def test_twilio_status_callbacks_become_receipt_updates(provider, status, error_code, expected, reason, permanent):
    async with hub(twilio_settings(provider)) as (channel, ctx):
        [receipt] = await channel.deliver(make_notice(), make_deliveries([NL_MOBILE], channel="sms"))
        answer = await provider.twilio_status(receipt.provider_id, status, error_code=error_code)
    assert answer == 204
    assert ctx.receipts.updates == [(receipt.provider_id, expected, reason, permanent)]


async def test_twilio_intermediate_statuses_are_ignored(provider):
    async with hub(twilio_settings(provider)) as (channel, ctx):
        [receipt] = await channel.deliver(make_notice(), make_deliveries([NL_MOBILE], channel="sms"))
        assert await provider.twilio_status(receipt.provider_id, "queued") == 204
        assert await provider.twilio_status(receipt.provider_id, "sending") == 204
    assert ctx.receipts.updates == []


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl"])
async def test_twilio_callbacks_with_a_bad_signature_are_rejected(provider, signature):
    async with hub(twilio_settings(provider)) as (channel, ctx):
        params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
        headers = {"X-Twilio-Signature": signature} if signature is not None else {}
        async with aiohttp.ClientSession() as http:
            for route in ("status", "inbound"):
                async with http.post(ctx.url(route), data=params, headers=headers) as resp:
                    assert resp.status == 403
            # signed with another account's token
            forged = signing.twilio_signature("other-token", ctx.url("status"), params.items())
            async with http.post(ctx.url("status"), data=params, headers={"X-Twilio-Signature": forged}) as resp:
                assert resp.status == 403
            # a signature over other parameters does not carry over
            good = signing.twilio_signature(provider.auth_token, ctx.url("status"), params.items())
            tampered = {**params, "MessageStatus": "failed"}
            async with http.post(ctx.url("status"), data=tampered, headers={"X-Twilio-Signature": good}) as resp:
                assert resp.status == 403
            async with http.post(ctx.url("status"), data=params, headers={"X-Twilio-Signature": good}) as resp:
                assert resp.status == 204
    assert ctx.receipts.updates == [("SM1", ReceiptStatus.DELIVERED, None, True)]


async def test_twilio_reply_becomes_a_tip(provider):
    async with hub(twilio_settings(provider)) as (channel, ctx):
        ctx.tips.actions[NL_MOBILE] = "act-01HZX0TEST7Q2K"
        status, body = await provider.twilio_reply(ctx.url("inbound"), NL_MOBILE, "  Jongen gezien bij de Dom, 14:05  ")
    assert status == 200
    assert body == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    assert ctx.tips.tips == [
        Tip(action_id="act-01HZX0TEST7Q2K", text="Jongen gezien bij de Dom, 14:05", channel="sms", sender=NL_MOBILE)
    ]


async def test_twilio_reply_from_an_unknown_number_is_answered_but_dropped(provider):
    async with hub(twilio_settings(provider)) as (channel, ctx):
        status, body = await provider.twilio_reply(ctx.url("inbound"), "+31699999999", "hallo")
    assert status == 200 and "<Response/>" in body
    assert ctx.tips.tips == []


# -- layout ------------------------------------------------------------------------------------

LONG = (
    "Jongen van 5 jaar, rode jas met capuchon, blauwe spijkerbroek, blond krullend haar, witte sneakers met "
    "groene veters, draagt een rugzak met een dinosaurus erop. Spreekt Nederlands en een beetje Engels. "
    "Laatst gezien bij het centraal station richting de Jaarbeurs, mogelijk samen met een oudere man in een "
    "grijze jas en een zwarte pet. Hij is bang voor honden en reageert op zijn naam Sem."
)


@pytest.mark.parametrize("max_segments", [1, 2, 3])
@pytest.mark.parametrize("language, tail", [("nl", "Gezien? Bel gratis 0800 0011."), ("en", "Seen? Call free 0800 0011.")])
async def test_long_description_is_shortened_to_fit(provider, max_segments, language, tail):
    notice = make_notice(description=LONG)
    async with hub(twilio_settings(provider, max_segments=max_segments)) as (channel, _):
        batch = make_deliveries([NL_MOBILE], channel="sms", language=language)
        await channel.deliver(notice, batch)
        rendered = channel.render(notice, batch[0].recipient)
    body = provider.messages[0]["Body"]
    assert body == rendered.text
    assert gsm.segments(body) <= max_segments
    assert rendered.extra == {"encoding": "GSM-7", "segments": gsm.segments(body), "shortened": True}
    assert body.endswith(tail)
    assert body.startswith(f"Burgernet {notice.action.reference} ")
    assert "..." in body and LONG[:40] in body


async def test_a_fitting_message_is_sent_unchanged(provider):
    notice = make_notice(description="Jongen van 5, rode jas.")
    async with hub(twilio_settings(provider)) as (channel, _):
        rendered = channel.render(notice, Recipient(address=NL_MOBILE))
    assert rendered.extra["shortened"] is False and rendered.extra["segments"] == 1
    assert "Jongen van 5, rode jas. Gezien?" in rendered.text


def test_smart_encoding_keeps_gsm7_and_can_be_switched_off():
    notice = make_notice(description="Meisje – “Zoë” – draagt een ‘geïmproviseerde’ cape…")
    on = SmsChannel(make_context("sms", {}, sandbox=True, channel_cls=SmsChannel))
    off = SmsChannel(make_context("sms", {"smart_encoding": False}, sandbox=True, channel_cls=SmsChannel))
    recipient = Recipient(address=NL_MOBILE)
    assert on.render(notice, recipient).extra["encoding"] == "GSM-7"
    assert "Meisje - \"Zoe\" - draagt een 'geimproviseerde' cape..." in on.render(notice, recipient).text
    assert off.render(notice, recipient).extra["encoding"] == "UCS-2"


def test_ucs2_text_fits_in_ucs2_segments():
    notice = make_notice(description="🚨 " + LONG)
    channel = SmsChannel(make_context("sms", {}, sandbox=True, channel_cls=SmsChannel))
    rendered = channel.render(notice, Recipient(address=NL_MOBILE))
    info = gsm.info(rendered.text)
    assert info.encoding == "UCS-2" and info.segments <= 2 and info.units > 70
    assert rendered.text.endswith("Bel gratis 0800 0011.")


def test_closing_message_shortens_the_result_text_only():
    notice = make_notice(MessageKind.END, result_text=LONG)
    channel = SmsChannel(make_context("sms", {"max_segments": 1}, sandbox=True, channel_cls=SmsChannel))
    rendered = channel.render(notice, Recipient(address=NL_MOBILE))
    assert rendered.extra["segments"] == 1 and rendered.extra["shortened"]
    assert rendered.text.startswith(f"Burgernet {notice.action.reference} BEEINDIGD: De vermiste persoon is gevonden.")
    assert rendered.text.endswith("Dank voor uw hulp. Heeft u later nog informatie? Bel 112 bij spoed, anders 0900 8844.")


def test_reply_hint_is_added_to_time_critical_alerts_only():
    channel = SmsChannel(make_context("sms", {"reply_hint": True}, sandbox=True, channel_cls=SmsChannel))
    nl, en = Recipient(address=NL_MOBILE), Recipient(address=NL_MOBILE, language="en")
    assert channel.render(make_notice(description=LONG), nl).text.endswith("0800 0011. Of antwoord op deze sms.")
    assert channel.render(make_notice(), en).text.endswith("Call free 0800 0011. Or reply to this text.")
    assert "antwoord" not in channel.render(make_notice(MessageKind.END), nl).text
    assert "antwoord" not in channel.render(make_notice(urgency="non_urgent", type="prevention"), nl).text


def test_layout_is_cached_per_notice_and_language():
    channel = SmsChannel(make_context("sms", {}, sandbox=True, channel_cls=SmsChannel))
    first = channel.message(make_notice(), "nl")
    assert channel.message(make_notice(), "nl") is first  # an equal notice built anew
    assert channel.message(make_notice(), "en") is not first


# -- CM.com ------------------------------------------------------------------------------------


async def test_cm_sends_a_batch_in_one_request_grouped_by_text(provider):
    provider.invalid.add("+31600000000")
    numbers = ["+31612340001", "+31612340002", "+31600000000", "+31612340003"]
    async with hub(cm_settings(provider, validity_minutes=45)) as (channel, _):
        notice = make_notice()
        batch = make_deliveries(numbers[:3], channel="sms") + make_deliveries(numbers[3:], channel="sms", language="en")
        receipts = await channel.deliver(notice, batch)
        texts = {lang: channel.render(notice, Recipient(address="x", language=lang)).text for lang in ("nl", "en")}
    assert provider.requests == 1
    [payload] = provider.cm_requests
    assert payload["messages"]["authentication"] == {"producttoken": provider.product_token}
    msgs = payload["messages"]["msg"]
    assert len(msgs) == 2
    nl_msg, en_msg = msgs
    assert nl_msg["from"] == "Burgernet"
    assert nl_msg["to"] == [{"number": "0031612340001"}, {"number": "0031612340002"}, {"number": "0031600000000"}]
    assert nl_msg["body"] == {"type": "auto", "content": texts["nl"]}
    assert en_msg["body"]["content"] == texts["en"] and en_msg["to"] == [{"number": "0031612340003"}]
    assert nl_msg["minimumnumberofmessageparts"] == 1 and nl_msg["maximumnumberofmessageparts"] == 2
    assert nl_msg["validity"] == "45m" and nl_msg["allowedchannels"] == ["SMS"]
    assert nl_msg["reference"] != en_msg["reference"] and nl_msg["reference"].isalnum()
    assert len(nl_msg["reference"]) <= 32

    by_id = {r.delivery_id: r for r in receipts}
    assert len(by_id) == 4
    for d in batch:
        r = by_id[d.id]
        if d.recipient.address == "+31600000000":
            assert r.status is ReceiptStatus.FAILED and isinstance(r.error, PermanentDeliveryError)
            assert r.error.code == "cm_303"
        else:
            ref = nl_msg["reference"] if d.recipient.language == "nl" else en_msg["reference"]
            assert r.status is ReceiptStatus.SENT and r.provider_id == f"{ref}:{d.recipient.address}"


async def test_cm_all_rejected_is_still_per_recipient(provider):
    provider.invalid.update({"+31600000001", "+31600000002"})
    async with hub(cm_settings(provider)) as (channel, _):
        receipts = await channel.deliver(make_notice(), make_deliveries(["+31600000001", "+31600000002"], channel="sms"))
    assert [r.error.code for r in receipts] == ["cm_303", "cm_303"]


async def test_cm_429_and_5xx_are_transient(provider):
    provider.fail_next(429, retry_after="12")
    provider.fail_next(503)
    async with hub(cm_settings(provider)) as (channel, _):
        batch = make_deliveries([NL_MOBILE], channel="sms")
        with pytest.raises(TransientDeliveryError) as limited:
            await channel.deliver(make_notice(), batch)
        with pytest.raises(TransientDeliveryError) as down:
            await channel.deliver(make_notice(), batch)
        [ok] = await channel.deliver(make_notice(), batch)
    assert limited.value.retry_after == 12.0 and limited.value.code == "rate_limited"
    assert down.value.code == "provider_unavailable" and down.value.provider_status == 503
    assert ok.status is ReceiptStatus.SENT


async def test_cm_wrong_token_is_transient(provider):
    async with hub(cm_settings(provider, product_token="wrong")) as (channel, _):
        with pytest.raises(TransientDeliveryError) as info:
            await channel.deliver(make_notice(), make_deliveries([NL_MOBILE], channel="sms"))
    assert info.value.code == "auth" and "101" in info.value.reason


@pytest.mark.parametrize(
    "code, error, expected, reason",
    [
        ("0", "", ReceiptStatus.SENT, None),
        ("2", "", ReceiptStatus.DELIVERED, None),
        ("3", "8", ReceiptStatus.FAILED, "8 Unknown subscriber"),
        ("1", "", ReceiptStatus.FAILED, None),
    ],
)
async def test_cm_status_reports_become_receipt_updates(provider, code, error, expected, reason):
    async with hub(cm_settings(provider)) as (channel, ctx):
        [receipt] = await channel.deliver(make_notice(), make_deliveries([NL_MOBILE], channel="sms"))
        reference = receipt.provider_id.split(":")[0]
        url = channel.provider.callback_urls()["status"]
        assert await provider.cm_status_report(url, reference=reference, to="0031612345678", code=code, error=error) == 200
    assert ctx.receipts.updates == [(receipt.provider_id, expected, reason, True)]


async def test_cm_callbacks_need_the_url_token(provider):
    async with hub(cm_settings(provider)) as (channel, ctx):
        urls = channel.provider.callback_urls()
        assert urls["status"].startswith(ctx.url("status") + "?token=")
        assert urls["status"].split("token=")[1] != urls["inbound"].split("token=")[1]
        inbound_token_on_status = urls["inbound"].replace("/inbound?", "/status?")
        for bad in (ctx.url("status"), ctx.url("status") + "?token=x", inbound_token_on_status):
            assert await provider.cm_status_report(bad, reference="r", to="0031612345678", code="2") == 403
        assert await provider.cm_reply(ctx.url("inbound"), sender="+31612345678", text="gezien") == 403
    assert ctx.receipts.updates == [] and ctx.tips.tips == []


async def test_cm_reply_becomes_a_tip(provider):
    async with hub(cm_settings(provider)) as (channel, ctx):
        ctx.tips.actions[NL_MOBILE] = "act-1"
        url = channel.provider.callback_urls()["inbound"]
        assert await provider.cm_reply(url, sender="0031612345678", text="Gezien bij het station") == 200
    assert ctx.tips.tips == [Tip(action_id="act-1", text="Gezien bij het station", channel="sms", sender=NL_MOBILE)]


# -- settings and lifecycle --------------------------------------------------------------------

VALIDATOR = jsonschema.Draft202012Validator(SmsChannel.settings_schema)


@pytest.mark.parametrize(
    "settings, valid",
    [
        ({}, True),
        ({"provider": "twilio", "account_sid": "AC1", "auth_token": "x", "sender": "+3197010000000"}, True),
        ({"provider": "cm", "product_token": "uuid", "sender": "Burgernet", "max_segments": 3}, True),
        ({"provider": "messagebird"}, False),
        ({"max_segments": 0}, False),
        ({"max_segments": 11}, False),
        ({"sender": "x" * 17}, False),
        ({"base_url": "ftp://example.org"}, False),
        ({"timeout": 0}, False),
        ({"validity_minutes": 601}, False),
        ({"unknown": 1}, False),
    ],
)
def test_settings_schema(settings, valid):
    assert VALIDATOR.is_valid(settings) is valid


def test_secrets_are_marked_private():
    props = SmsChannel.settings_schema["properties"]
    assert props["auth_token"]["private"] is True and props["product_token"]["private"] is True


@pytest.mark.parametrize(
    "settings, missing",
    [
        ({"account_sid": "AC1", "sender": "+31"}, "auth_token"),
        ({"account_sid": "AC1", "auth_token": "t"}, "sender"),
        ({"provider": "cm", "product_token": "t"}, "sender"),
    ],
)
async def test_start_refuses_incomplete_provider_settings(settings, missing):
    channel = SmsChannel(make_context("sms", settings, channel_cls=SmsChannel))
    with pytest.raises(PluginError, match=missing):
        async with started(channel):
            pass


async def test_sandbox_starts_without_credentials_and_deliver_needs_a_start():
    channel = SmsChannel(make_context("sms", {}, sandbox=True, channel_cls=SmsChannel))
    async with started(channel):
        with pytest.raises(TransientDeliveryError):
            await channel.deliver(make_notice(), make_deliveries([NL_MOBILE], channel="sms"))


def test_provider_sets_how_the_hub_drives_the_channel():
    twilio = SmsChannel(make_context("sms", {}, sandbox=True, channel_cls=SmsChannel))
    cm = SmsChannel(make_context("sms", {"provider": "cm"}, sandbox=True, channel_cls=SmsChannel))
    assert (twilio.batch_size, twilio.concurrency) == (1, 64)
    assert (cm.batch_size, cm.concurrency) == (1000, 4)
    assert cm.describe()["provider"] == "cm" and "token" not in str(cm.describe())


@pytest.mark.parametrize(
    "value, expected",
    [(None, None), ("", None), ("5", 5.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_in_the_future():
    import email.utils
    import time

    value = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(value) <= 31


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"messages": "x"}', b'{"messages": {"msg": 5}}'])
async def test_cm_malformed_webhooks_are_refused_without_side_effects(provider, body):
    async with hub(cm_settings(provider)) as (channel, ctx):
        urls = channel.provider.callback_urls()
        async with aiohttp.ClientSession() as http:
            async with http.post(urls["status"], data=body, headers={"Content-Type": "application/json"}) as resp:
                status_answer = resp.status
            async with http.post(urls["inbound"], data=body, headers={"Content-Type": "application/json"}) as resp:
                inbound_answer = resp.status
    assert status_answer in (200, 400) and inbound_answer in (200, 400)
    assert ctx.receipts.updates == [] and ctx.tips.tips == []


# -- personal messages (verification codes) ---------------------------------------------------


async def test_a_verification_code_goes_out_by_twilio_and_by_cm(provider):
    from hub.models import PersonalMessage

    message = PersonalMessage(address=NL_MOBILE, language="nl", purpose="verify_phone",
                              text="Burgernet: uw code is 123456.", code="123456")
    async with hub(twilio_settings(provider)) as (channel, _):
        sid = await channel.send_personal(message)
    [sent] = [m for m in provider.messages if m["Body"] == "Burgernet: uw code is 123456."]
    assert sent["To"] == NL_MOBILE and sent["sid"] == sid
    async with hub(cm_settings(provider)) as (channel, _):
        reference = await channel.send_personal(message)
    [payload] = provider.cm_requests
    [msg] = payload["messages"]["msg"]
    assert msg["to"] == [{"number": "0031612345678"}] and msg["body"]["content"] == message.text
    assert reference.startswith(msg["reference"])


async def test_a_refused_code_is_a_typed_error(provider):
    from hub.models import PersonalMessage

    async with hub(twilio_settings(provider)) as (channel, _):
        with pytest.raises(PermanentDeliveryError):
            await channel.send_personal(PersonalMessage(address="+999", language="nl", purpose="verify_phone", text="x"))
        provider.fail_next(429, retry_after="7")
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send_personal(PersonalMessage(address=NL_MOBILE, language="nl", purpose="verify_phone", text="x"))
        assert caught.value.retry_after == 7
