"""The voice channel against a loopback Twilio Calls API, its status callbacks and TwiML."""

from __future__ import annotations

import contextlib
import socket
import xml.etree.ElementTree as ET
from typing import Any, AsyncIterator

import aiohttp
import jsonschema
import pytest
from aiohttp import web

from hub.errors import PermanentDeliveryError, PluginError, TransientDeliveryError
from hub.models import MessageKind, ReceiptStatus, Recipient
from hub.testing import channel_routes_app, make_context, make_deliveries, make_notice, started
from plugins.sms import signing
from plugins.voice import VoiceChannel
from plugins.voice.loopback import LoopbackTwilioCalls, dials, says

LANDLINE = "+31302345678"


@pytest.fixture
async def twilio() -> AsyncIterator[LoopbackTwilioCalls]:
    async with LoopbackTwilioCalls() as t:
        yield t


def settings_for(twilio: LoopbackTwilioCalls, **extra: Any) -> dict[str, Any]:
    return {
        "base_url": twilio.base_url,
        "account_sid": twilio.account_sid,
        "auth_token": twilio.auth_token,
        "caller_id": "+31880011000",
        **extra,
    }


@contextlib.asynccontextmanager
async def hub(settings: dict[str, Any]) -> AsyncIterator[tuple[VoiceChannel, Any]]:
    """A started channel with its routes served where ``context.url()`` says they are."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ctx = make_context("voice", settings, channel_cls=VoiceChannel, public_url=f"http://127.0.0.1:{port}")
    channel = VoiceChannel(ctx)
    app = channel_routes_app("voice", channel.web_routes())  # as hub/api mounts it
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        async with started(channel):
            yield channel, ctx
    finally:
        await runner.cleanup()


def text_of(element: ET.Element) -> str:
    return "".join(element.itertext())


async def test_a_call_reads_the_message_twice_with_the_number_slowly(twilio):
    async with hub(settings_for(twilio)) as (channel, ctx):
        notice = make_notice()
        [receipt] = await channel.deliver(notice, make_deliveries([LANDLINE], channel="voice"))
    assert receipt.status is ReceiptStatus.SENT
    [call] = twilio.calls
    assert receipt.provider_id == call["sid"] and call["sid"].startswith("CA")
    assert call["To"] == LANDLINE and call["From"] == "+31880011000"
    assert call["StatusCallback"] == ctx.url("status") + "?attempt=1"
    assert call["StatusCallbackEvent"] == ["answered", "completed"]
    assert call["MachineDetection"] == "DetectMessageEnd"
    assert (call["Timeout"], call["TimeLimit"]) == ("30", "180")

    root = ET.fromstring(call["Twiml"].encode())
    assert root.tag == "Response"
    assert [child.tag for child in root] == ["Gather", "Pause", "Say", "Pause", "Say"]
    gather, _, second, _, goodbye = root
    first, menu = gather
    assert "Druk op 1" in text_of(menu) and "Druk op 2" in text_of(menu)
    for say in (first, second, goodbye):
        assert say.get("language") == "nl-NL" and say.get("voice") == "Polly.Lotte"
    description = notice.action.description
    assert description in text_of(first) and description in text_of(second)
    assert text_of(second).startswith("Ik herhaal het bericht.")
    for say in (first, second):
        [prosody] = say.findall("prosody")
        assert prosody.get("rate") == "slow"
        assert prosody.text == "0, 8, 0, 0" and prosody[0].tag == "break" and prosody[0].tail == "0, 0, 1, 1"
        [spelled] = say.findall("say-as")
        assert spelled.get("interpret-as") == "characters" and spelled.text == notice.action.reference
    assert "Burgernet" in text_of(goodbye)


async def test_english_calls_use_en_gb(twilio):
    async with hub(settings_for(twilio, voice_en="Google.en-GB-Standard-A")) as (channel, _):
        await channel.deliver(make_notice(), make_deliveries([LANDLINE], channel="voice", language="en"))
    for say in says(twilio.calls[0]["Twiml"]):
        assert say.get("language") == "en-GB" and say.get("voice") == "Google.en-GB-Standard-A"
    assert "Please look out for" in text_of(says(twilio.calls[0]["Twiml"])[0])


async def test_dispatcher_text_cannot_break_the_twiml(twilio):
    nasty = 'Man <Hangup/> & "vrouw" </Say><Play>http://evil</Play> ]]>'
    async with hub(settings_for(twilio)) as (channel, _):
        await channel.deliver(make_notice(description=nasty), make_deliveries([LANDLINE], channel="voice"))
    root = ET.fromstring(twilio.calls[0]["Twiml"].encode())
    assert root.find(".//Play") is None and root.find(".//Hangup") is None
    assert nasty in text_of(root.findall("Say")[0])


def test_without_ssml_digits_and_reference_are_spelled_with_commas():
    channel = VoiceChannel(make_context("voice", {"ssml": False, "repeat": 1}, sandbox=True, channel_cls=VoiceChannel))
    notice = make_notice()
    rendered = channel.render(notice, Recipient(address=LANDLINE))
    root = ET.fromstring(rendered.extra["twiml"].encode())
    assert root.find(".//prosody") is None and root.find(".//say-as") is None
    assert [c.tag for c in root] == ["Gather", "Pause", "Say"]
    spoken = text_of(root[0][0])
    assert "0, 8, 0, 0. 0, 0, 1, 1" in spoken
    assert ", ".join(notice.action.reference) in spoken
    assert rendered.extra["language"] == "nl-NL"
    assert "0800 0011" in rendered.text and notice.action.description in rendered.text


async def test_long_twiml_is_served_from_a_signed_url(twilio):
    long_description = "Lange omschrijving met veel details. " * 60
    async with hub(settings_for(twilio)) as (channel, ctx):
        [receipt] = await channel.deliver(
            make_notice(description=long_description), make_deliveries([LANDLINE], channel="voice")
        )
        call = twilio.calls[0]
        assert call["Twiml"] is None and call["Url"].startswith(ctx.url("twiml/"))
        twiml = await twilio.twiml_of(receipt.provider_id)
        assert len(twiml) > 4000 and long_description.strip() in text_of(says(twiml)[0])
        async with aiohttp.ClientSession() as http:
            async with http.post(call["Url"], data={"CallSid": "CA1"}, headers={"X-Twilio-Signature": "forged"}) as resp:
                assert resp.status == 403
            missing = ctx.url("twiml/" + "0" * 32)
            sig = signing.twilio_signature(twilio.auth_token, missing, [("CallSid", "CA1")])
            async with http.post(missing, data={"CallSid": "CA1"}, headers={"X-Twilio-Signature": sig}) as resp:
                assert resp.status == 404
        # a second callee of the same notice reuses the stored TwiML
        await channel.deliver(make_notice(description=long_description), make_deliveries([LANDLINE], channel="voice"))
    assert twilio.calls[1]["Url"] == call["Url"]
    assert list(ctx.records.data) == [f"twiml:{call['Url'].rsplit('/', 1)[1]}"]


async def test_inline_mode_is_refused_by_twilio_when_too_long(twilio):
    async with hub(settings_for(twilio, twiml="inline")) as (channel, _):
        [receipt] = await channel.deliver(
            make_notice(description="x " * 2500), make_deliveries([LANDLINE], channel="voice")
        )
    assert isinstance(receipt.error, PermanentDeliveryError) and receipt.error.code == "twilio_32018"


# -- status callbacks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "events, attempt, expected",
    [
        ([("in-progress", None), ("completed", "human")], 1, [(ReceiptStatus.DELIVERED, "answered", True)]),
        ([("completed", "machine_end_beep")], 1, [(ReceiptStatus.DELIVERED, "voicemail", True)]),
        ([("completed", "fax")], 1, [(ReceiptStatus.FAILED, "fax", True)]),
        ([("no-answer", None)], 1, [(ReceiptStatus.FAILED, "no-answer", False)]),
        ([("busy", None)], 2, [(ReceiptStatus.FAILED, "busy", False)]),
        ([("no-answer", None)], 3, [(ReceiptStatus.FAILED, "no-answer", True)]),
        ([("failed", None)], 1, [(ReceiptStatus.FAILED, "failed", True)]),
        ([("canceled", None)], 1, [(ReceiptStatus.FAILED, "canceled", True)]),
        ([("initiated", None), ("ringing", None)], 1, []),
    ],
)
async def test_call_status_callbacks_become_receipts(twilio, events, attempt, expected):
    async with hub(settings_for(twilio)) as (channel, ctx):
        [receipt] = await channel.deliver(make_notice(), make_deliveries([LANDLINE], channel="voice", attempt=attempt))
        for call_status, answered_by in events:
            assert await twilio.status(receipt.provider_id, call_status, answered_by=answered_by) == 204
    assert ctx.receipts.updates == [(receipt.provider_id, *e) for e in expected]


async def test_voicemail_can_be_retried_like_no_answer(twilio):
    async with hub(settings_for(twilio, on_voicemail="retry", no_answer_retries=1)) as (channel, ctx):
        first = make_deliveries([LANDLINE], channel="voice", attempt=1)
        last = make_deliveries([LANDLINE], channel="voice", attempt=2)
        [r1] = await channel.deliver(make_notice(), first)
        [r2] = await channel.deliver(make_notice(), last)
        await twilio.status(r1.provider_id, "completed", answered_by="machine_start")
        await twilio.status(r2.provider_id, "completed", answered_by="machine_end_silence")
    assert ctx.receipts.updates == [
        (r1.provider_id, ReceiptStatus.FAILED, "voicemail", False),
        (r2.provider_id, ReceiptStatus.FAILED, "voicemail", True),
    ]


async def test_without_machine_detection_answering_is_delivery(twilio):
    async with hub(settings_for(twilio, machine_detection=False)) as (channel, ctx):
        [receipt] = await channel.deliver(make_notice(), make_deliveries([LANDLINE], channel="voice"))
        await twilio.status(receipt.provider_id, "in-progress")
    assert twilio.calls[0]["MachineDetection"] == ""
    assert ctx.receipts.updates == [(receipt.provider_id, ReceiptStatus.DELIVERED, "answered", True)]


async def test_failed_calls_carry_the_sip_code(twilio):
    async with hub(settings_for(twilio)) as (channel, ctx):
        [receipt] = await channel.deliver(make_notice(), make_deliveries([LANDLINE], channel="voice"))
        await twilio.status(receipt.provider_id, "failed", SipResponseCode="404")
    assert ctx.receipts.updates == [(receipt.provider_id, ReceiptStatus.FAILED, "failed (SIP 404)", True)]


@pytest.mark.parametrize("signature", ["", "Zm9yZ2Vk", "RSOYDt4T1cUTdK1PDd93/VVr8B8="])
async def test_status_callbacks_need_twilios_signature(twilio, signature):
    async with hub(settings_for(twilio)) as (channel, ctx):
        [receipt] = await channel.deliver(make_notice(), make_deliveries([LANDLINE], channel="voice"))
        assert await twilio.status(receipt.provider_id, "completed", signature=signature) == 403
        # the attempt in the URL is covered by the signature: changing it breaks the signature
        url = twilio.calls[0]["StatusCallback"].replace("attempt=1", "attempt=9")
        params = {"CallSid": receipt.provider_id, "CallStatus": "no-answer"}
        good_for_other_url = signing.twilio_signature(twilio.auth_token, twilio.calls[0]["StatusCallback"], params.items())
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=params, headers={"X-Twilio-Signature": good_for_other_url}) as resp:
                assert resp.status == 403
    assert ctx.receipts.updates == []


# -- API errors -------------------------------------------------------------------------------


async def test_429_and_5xx_are_transient(twilio):
    twilio.fail_next(429, retry_after="20")
    twilio.fail_next(503)
    async with hub(settings_for(twilio)) as (channel, _):
        batch = make_deliveries([LANDLINE], channel="voice")
        with pytest.raises(TransientDeliveryError) as limited:
            await channel.deliver(make_notice(), batch)
        with pytest.raises(TransientDeliveryError) as down:
            await channel.deliver(make_notice(), batch)
        [ok] = await channel.deliver(make_notice(), batch)
    assert limited.value.retry_after == 20.0 and limited.value.code == "rate_limited"
    assert down.value.code == "provider_unavailable"
    assert ok.status is ReceiptStatus.SENT


async def test_invalid_numbers_fail_permanently(twilio):
    twilio.invalid.add("+31300000000")
    async with hub(settings_for(twilio)) as (channel, _):
        receipts = await channel.deliver(
            make_notice(), make_deliveries(["+31300000000", "030-1234567", LANDLINE], channel="voice")
        )
    assert [r.status for r in receipts] == [ReceiptStatus.FAILED, ReceiptStatus.FAILED, ReceiptStatus.SENT]
    assert [r.error.code for r in receipts[:2]] == ["twilio_21211", "twilio_21211"]


async def test_wrong_credentials_are_transient(twilio):
    async with hub(settings_for(twilio, auth_token="wrong")) as (channel, _):
        with pytest.raises(TransientDeliveryError) as info:
            await channel.deliver(make_notice(), make_deliveries([LANDLINE], channel="voice"))
    assert info.value.code == "auth"


# -- settings ---------------------------------------------------------------------------------

VALIDATOR = jsonschema.Draft202012Validator(VoiceChannel.settings_schema)


@pytest.mark.parametrize(
    "settings, valid",
    [
        ({}, True),
        ({"account_sid": "AC1", "auth_token": "t", "caller_id": "+31880011000"}, True),
        ({"caller_id": "0800 0011"}, False),
        ({"repeat": 4}, False),
        ({"on_voicemail": "ignore"}, False),
        ({"no_answer_retries": 6}, False),
        ({"twiml": "file"}, False),
        ({"ring_timeout": 2}, False),
        ({"provider": "vonage"}, False),
        ({"extra": True}, False),
    ],
)
def test_settings_schema(settings, valid):
    assert VALIDATOR.is_valid(settings) is valid


@pytest.mark.parametrize("missing", ["auth_token", "caller_id"])
async def test_start_needs_token_and_caller_id(missing):
    settings = {"account_sid": "AC1", "auth_token": "t", "caller_id": "+31880011000"}
    del settings[missing]
    channel = VoiceChannel(make_context("voice", settings, channel_cls=VoiceChannel))
    with pytest.raises(PluginError, match=missing):
        async with started(channel):
            pass


@pytest.mark.parametrize("kind", list(MessageKind))
def test_every_kind_renders_in_both_languages(kind):
    channel = VoiceChannel(make_context("voice", {}, sandbox=True, channel_cls=VoiceChannel))
    for language, tag in (("nl", "nl-NL"), ("en", "en-GB"), ("de", "nl-NL")):
        rendered = channel.render(make_notice(kind), Recipient(address=LANDLINE, language=language))
        assert ET.fromstring(rendered.extra["twiml"].encode()).find("Say").get("language") == tag


async def test_press_1_puts_the_listener_through_to_the_call_back_number(twilio):
    async with hub(settings_for(twilio)) as (channel, ctx):
        [receipt] = await channel.deliver(make_notice(), make_deliveries([LANDLINE], channel="voice"))
        gather = ET.fromstring(twilio.calls[0]["Twiml"].encode()).find("Gather")
        assert gather.get("input") == "dtmf" and gather.get("numDigits") == "1"
        assert gather.get("action").startswith(ctx.url("menu") + "?")
        answer = await twilio.press(receipt.provider_id, "1")
    assert dials(answer) == ["08000011"]
    [say] = says(answer)
    assert say.text == "U wordt nu doorverbonden. Een ogenblik geduld." and say.get("language") == "nl-NL"


async def test_press_2_plays_the_message_again_and_offers_the_menu_again(twilio):
    async with hub(settings_for(twilio)) as (channel, _):
        notice = make_notice()
        [receipt] = await channel.deliver(notice, make_deliveries([LANDLINE], channel="voice", language="en"))
        answer = await twilio.press(receipt.provider_id, "2")
        assert answer == twilio.calls[0]["Twiml"]
        gather = ET.fromstring(answer.encode()).find("Gather")
        assert notice.action.description in text_of(gather) and "Press 1" in text_of(gather)
        # and from the replay, 1 still puts the listener through
        assert dials(await twilio.press(receipt.provider_id, "1", twiml=answer)) == ["08000011"]


async def test_a_crisis_call_offers_no_call_back_and_the_menu_needs_twilios_signature(twilio):
    async with hub(settings_for(twilio)) as (channel, ctx):
        crisis = make_notice(type="crisis", safety_advice="Houd ramen en deuren gesloten")
        [receipt] = await channel.deliver(crisis, make_deliveries([LANDLINE], channel="voice"))
        twiml = twilio.calls[0]["Twiml"]
        menu = ET.fromstring(twiml.encode()).find("Gather")[-1]
        assert "Druk op 1" not in text_of(menu) and "Druk op 2" in text_of(menu)
        assert "dial=" not in ET.fromstring(twiml.encode()).find("Gather").get("action")
        assert dials(await twilio.press(receipt.provider_id, "1")) == []
        action = ET.fromstring(twiml.encode()).find("Gather").get("action")
        async with aiohttp.ClientSession() as http:
            async with http.post(action, data={"Digits": "1", "CallSid": receipt.provider_id},
                                 headers={"X-Twilio-Signature": "forged"}) as resp:
                assert resp.status == 403


def test_without_the_menu_a_call_is_read_as_before():
    channel = VoiceChannel(make_context("voice", {"menu": False}, sandbox=True, channel_cls=VoiceChannel))
    root = ET.fromstring(channel.render(make_notice(), Recipient(address=LANDLINE)).extra["twiml"].encode())
    assert [c.tag for c in root] == ["Say", "Pause", "Say", "Pause", "Say"]


async def test_a_verification_call_reads_the_code_digit_by_digit_three_times(twilio):
    from hub.models import PersonalMessage

    message = PersonalMessage(address=LANDLINE, language="nl", purpose="verify_phone",
                              text="Dit is Burgernet. Uw code is 482913.", code="482913")
    async with hub(settings_for(twilio)) as (channel, _):
        sid = await channel.send_personal(message)
    [call] = twilio.calls
    assert call["sid"] == sid and call["To"] == LANDLINE and call["Url"] is None
    assert call["Twiml"].count("4, 8, 2, 9, 1, 3") == 3 and 'language="nl-NL"' in call["Twiml"]
    assert "482913" not in call["Twiml"]
