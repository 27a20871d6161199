"""The e-mail channel against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from email_testkit import PNG, Collector, self_signed, server_tls_context, smtp_server
from hub.errors import PermanentDeliveryError, PluginError, TransientDeliveryError
from hub.models import MessageKind, ReceiptStatus, Urgency
from hub.testing import make_context, make_deliveries, make_notice, started
from plugins.email import EmailChannel

FROM = "noreply@burgernet.example.org"
INQUIRY = dict(type="neighbourhood_inquiry", urgency=Urgency.NON_URGENT, title="Inbraak in de Lange Nieuwstraat",
               description="Vannacht is in de Lange Nieuwstraat ingebroken. Heeft u iets gezien of gehoord?")


def channel_for(controller, **settings) -> EmailChannel:
    base = {"host": "127.0.0.1", "port": controller.port, "security": "none", "from_address": FROM, "timeout": 5}
    base.update(settings)
    return EmailChannel(make_context("email", base, channel_cls=EmailChannel, public_url="https://hub.example.org"))


def by_id(receipts):
    return {r.delivery_id: r for r in receipts}


async def test_a_batch_goes_over_one_connection_with_all_headers_and_both_parts():
    handler = Collector()
    with smtp_server(handler) as controller:
        channel = channel_for(controller)
        notice = make_notice(MessageKind.START, **INQUIRY)
        batch = make_deliveries(["ann@example.net", "bob@example.net", "cas@example.net"], channel="email")
        async with started(channel):
            receipts = await channel.deliver(notice, batch)
            assert channel._pool.connects == 1
    assert [r.status for r in receipts] == [ReceiptStatus.SENT] * 3
    assert len(handler.messages) == 3 and len(handler.sessions) == 1
    mails = handler.parsed()
    for d, receipt, (mail_from, rcpts, _), msg in zip(batch, receipts, handler.messages, mails):
        assert mail_from == FROM and rcpts == [d.recipient.address]
        assert msg["From"].addresses[0].addr_spec == FROM and msg["From"].addresses[0].display_name == "Burgernet"
        assert msg["To"] == d.recipient.address
        assert notice.action.reference in msg["Subject"] and "Lange Nieuwstraat" in msg["Subject"]
        assert msg["Message-ID"] == f"<{receipt.provider_id}>"
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = msg["List-Unsubscribe"]
        assert unsubscribe.startswith("<https://hub.example.org/v1/channels/email/unsubscribe/") and unsubscribe.endswith(">")
        assert msg.get_content_type() == "multipart/alternative"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "Lange Nieuwstraat ingebroken" in text and "Lange Nieuwstraat ingebroken" in html
        reply = [w for w in text.split() if "/v1/channels/email/reply/" in w]
        assert len(reply) == 1 and reply[0].startswith("https://hub.example.org/v1/channels/email/reply/")
        assert f'href="{reply[0]}"' in html
        assert "https://img.example.org/boy.jpg" in text and 'src="https://img.example.org/boy.jpg"' in html
    # each recipient has an own reply link
    assert len({m.get_body(("plain",)).get_content() for m in mails}) == 3


async def test_connections_are_reused_and_bounded():
    handler = Collector()
    with smtp_server(handler) as controller:
        channel = channel_for(controller, connections=2)
        notice = make_notice(MessageKind.START, **INQUIRY)
        async with started(channel):
            batches = [make_deliveries([f"p{i}-{j}@example.net" for j in range(5)], channel="email") for i in range(6)]
            results = await asyncio.gather(*(channel.deliver(notice, b) for b in batches))
            await channel.deliver(notice, make_deliveries(["late@example.net"], channel="email"))
            connects = channel._pool.connects
    assert all(r.status is ReceiptStatus.SENT for rs in results for r in rs)
    assert len(handler.messages) == 31
    assert connects == 2 and len(handler.sessions) == 2


async def test_451_is_transient_and_the_retry_is_accepted():
    handler = Collector(defer_data={1})
    with smtp_server(handler) as controller:
        channel = channel_for(controller)
        notice = make_notice(MessageKind.START, **INQUIRY)
        batch = make_deliveries(["ann@example.net"], channel="email")
        async with started(channel):
            with pytest.raises(TransientDeliveryError) as caught:
                await channel.deliver(notice, batch)
            assert caught.value.code == "smtp_451" and caught.value.provider_status == 451
            receipts = await channel.deliver(notice, make_deliveries(["ann@example.net"], channel="email", attempt=2))
    assert [r.status for r in receipts] == [ReceiptStatus.SENT]
    assert len(handler.messages) == 1


async def test_a_deferral_mid_batch_fails_the_rest_transiently():
    handler = Collector(defer_data={2})
    with smtp_server(handler) as controller:
        channel = channel_for(controller)
        batch = make_deliveries(["a@example.net", "b@example.net", "c@example.net"], channel="email")
        async with started(channel):
            receipts = by_id(await channel.deliver(make_notice(MessageKind.START, **INQUIRY), batch))
    assert receipts[batch[0].id].status is ReceiptStatus.SENT
    for d in batch[1:]:
        assert receipts[d.id].status is ReceiptStatus.FAILED
        assert isinstance(receipts[d.id].error, TransientDeliveryError)
    assert len(handler.messages) == 1


async def test_550_fails_only_that_recipient_permanently():
    handler = Collector(refuse={"gone@example.net"})
    with smtp_server(handler) as controller:
        channel = channel_for(controller)
        batch = make_deliveries(["a@example.net", "gone@example.net", "c@example.net"], channel="email")
        async with started(channel):
            receipts = by_id(await channel.deliver(make_notice(MessageKind.START, **INQUIRY), batch))
    assert receipts[batch[0].id].status is ReceiptStatus.SENT
    assert receipts[batch[2].id].status is ReceiptStatus.SENT
    failed = receipts[batch[1].id]
    assert failed.status is ReceiptStatus.FAILED
    assert isinstance(failed.error, PermanentDeliveryError) and failed.error.code == "smtp_550"
    assert [rcpts for _, rcpts, _ in handler.messages] == [["a@example.net"], ["c@example.net"]]


async def test_a_lost_connection_mid_batch_reconnects_and_sends_everything():
    handler = Collector(drop_at_mail={2})
    with smtp_server(handler) as controller:
        channel = channel_for(controller)
        batch = make_deliveries(["a@example.net", "b@example.net", "c@example.net"], channel="email")
        async with started(channel):
            receipts = await channel.deliver(make_notice(MessageKind.START, **INQUIRY), batch)
            assert channel._pool.connects == 2
    assert [r.status for r in receipts] == [ReceiptStatus.SENT] * 3
    assert sorted(r[0] for _, r, _ in handler.messages) == ["a@example.net", "b@example.net", "c@example.net"]


async def test_an_unreachable_server_is_transient_for_the_batch():
    with smtp_server(Collector()) as controller:
        port = controller.port
    channel = EmailChannel(make_context("email", {"host": "127.0.0.1", "port": port, "security": "none",
                                                  "from_address": FROM, "timeout": 2}, channel_cls=EmailChannel))
    async with started(channel):
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.deliver(make_notice(**INQUIRY), make_deliveries(["a@example.net"], channel="email"))
    assert caught.value.code == "smtp_connection"


async def test_an_unusable_address_fails_permanently_without_bothering_the_server():
    handler = Collector()
    with smtp_server(handler) as controller:
        channel = channel_for(controller)
        batch = make_deliveries(["not an address", "a@example.net"], channel="email")
        async with started(channel):
            receipts = by_id(await channel.deliver(make_notice(**INQUIRY), batch))
    assert isinstance(receipts[batch[0].id].error, PermanentDeliveryError)
    assert receipts[batch[0].id].error.code == "invalid_address"
    assert receipts[batch[1].id].status is ReceiptStatus.SENT and len(handler.messages) == 1


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_tls_and_authentication(tmp_path, security):
    cert, key = self_signed(tmp_path)
    handler = Collector()
    tls = server_tls_context(cert, key)
    kwargs = (
        {"tls_context": tls, "require_starttls": True, "authenticator": handler.authenticate, "auth_require_tls": True}
        if security == "starttls"
        else {"ssl_context": tls, "authenticator": handler.authenticate, "auth_require_tls": False}
    )
    with smtp_server(handler, **kwargs) as controller:
        channel = channel_for(controller, security=security, ca_file=str(cert), username="hub", password="s3cret")
        async with started(channel):
            receipts = await channel.deliver(make_notice(**INQUIRY), make_deliveries(["a@example.net"], channel="email"))
    assert receipts[0].status is ReceiptStatus.SENT
    assert handler.logins == [b"hub"] and len(handler.messages) == 1


async def test_wrong_password_is_not_the_recipients_fault(tmp_path):
    cert, key = self_signed(tmp_path)
    handler = Collector()
    with smtp_server(handler, tls_context=server_tls_context(cert, key), require_starttls=True,
                     authenticator=handler.authenticate) as controller:
        channel = channel_for(controller, security="starttls", ca_file=str(cert), username="hub", password="wrong")
        async with started(channel):
            with pytest.raises(TransientDeliveryError) as caught:
                await channel.deliver(make_notice(**INQUIRY), make_deliveries(["a@example.net"], channel="email"))
    assert caught.value.code.startswith("smtp_5") and handler.messages == []


async def test_the_end_of_an_inquiry_is_a_threaded_follow_up_without_reply_button():
    handler = Collector()
    with smtp_server(handler) as controller:
        channel = channel_for(controller)
        async with started(channel):
            start = await channel.deliver(make_notice(MessageKind.START, **INQUIRY),
                                          make_deliveries(["ann@example.net"], channel="email"))
            end_notice = make_notice(MessageKind.END, result="arrested",
                                     result_text="Dankzij tips uit de buurt is een verdachte aangehouden.", **INQUIRY)
            end = await channel.deliver(end_notice, make_deliveries(["ann@example.net"], channel="email",
                                                                    kind=MessageKind.END))
    first, follow_up = handler.parsed()
    assert follow_up["In-Reply-To"] == first["Message-ID"] == f"<{start[0].provider_id}>"
    assert follow_up["References"] == first["Message-ID"]
    assert follow_up["Subject"].startswith("Afloop Burgernet-actie")
    text = follow_up.get_body(("plain",)).get_content()
    assert "Dankzij tips uit de buurt is een verdachte aangehouden." in text
    assert "/reply/" not in text and "/reply/" not in follow_up.get_body(("html",)).get_content()
    assert follow_up["List-Unsubscribe"]
    assert end[0].status is ReceiptStatus.SENT


async def test_english_and_time_critical():
    handler = Collector()
    with smtp_server(handler) as controller:
        channel = channel_for(controller)
        async with started(channel):
            await channel.deliver(make_notice(MessageKind.START),
                                  make_deliveries(["ann@example.net"], channel="email", language="en"))
    (msg,) = handler.parsed()
    text = msg.get_body(("plain",)).get_content()
    assert msg["Content-Language"] == "en" and "action" in msg["Subject"]
    assert "Call 0800 0011 straight away" in text and "Did you see something that may help?" in text


async def test_the_photo_can_be_embedded_as_a_related_part():
    async def photo(request):
        return web.Response(body=PNG, content_type="image/png")

    app = web.Application()
    app.router.add_get("/boy.png", photo)
    async with TestServer(app, host="127.0.0.1") as photos:
        url = str(photos.make_url("/boy.png"))
        handler = Collector()
        with smtp_server(handler) as controller:
            channel = channel_for(controller, inline_photos=True)
            from hub.models import Photo

            notice = make_notice(MessageKind.START, photos=(Photo(url=url, caption="Verdachte auto"),), **INQUIRY)
            async with started(channel):
                await channel.deliver(notice, make_deliveries(["a@example.net", "b@example.net"], channel="email"))
    for msg in handler.parsed():
        html_part = msg.get_body(("related",))
        assert html_part is not None and html_part.get_content_type() == "multipart/related"
        html, image = list(html_part.iter_parts())
        assert image.get_content_type() == "image/png" and image.get_content() == PNG
        cid = image["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html.get_content() and 'alt="Verdachte auto"' in html.get_content()


async def test_start_refuses_a_real_configuration_without_sender():
    channel = EmailChannel(make_context("email", {"host": "127.0.0.1"}, channel_cls=EmailChannel))
    with pytest.raises(PluginError):
        async with started(channel):
            pass


def test_reply_links_point_at_the_public_url():
    channel = EmailChannel(make_context("email", {}, sandbox=True, channel_cls=EmailChannel,
                                        public_url="https://hub.example.org/"))
    from hub.models import Recipient

    rendered = channel.render(make_notice(**INQUIRY), Recipient(address="a@example.net", participant_id="p-9"))
    assert urlsplit(rendered.extra["reply_url"]).path.startswith("/v1/channels/email/reply/")
    prevention = channel.render(make_notice(type="prevention", urgency=Urgency.NON_URGENT),
                                Recipient(address="a@example.net", participant_id="p-9"))
    assert prevention.extra["reply_url"] is None and "/reply/" not in prevention.text


async def test_a_confirmation_link_is_mailed_with_both_parts():
    from hub.models import PersonalMessage

    handler = Collector()
    with smtp_server(handler) as controller:
        channel = channel_for(controller)
        message = PersonalMessage(address="ann@example.net", language="nl", purpose="signup",
                                  subject="Aanmelden bij Burgernet", text="Link: https://hub.example.org/participant/#link=x\n",
                                  html="<p><a href=\"https://hub.example.org/participant/#link=x\">link</a></p>")
        async with started(channel):
            message_id = await channel.send_personal(message)
            with pytest.raises(PermanentDeliveryError):
                await channel.send_personal(PersonalMessage(address="not an address", language="nl", purpose="signup", text="x"))
    [mail] = handler.parsed()
    assert mail["To"] == "ann@example.net" and mail["Subject"] == "Aanmelden bij Burgernet"
    assert mail["Message-ID"] == f"<{message_id}>" and message_id.startswith("signup.")
    assert "#link=x" in mail.get_body(("plain",)).get_content() and mail.get_body(("html",)) is not None
