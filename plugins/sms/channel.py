"""The SMS channel: short alerts to participants' mobile numbers, through Twilio or CM.com.

The text is the core's ``short`` variant, laid out to fit ``max_segments`` by shortening only the
description (the result text, for a closing message); the action reference and the call-back number
always survive. Layouts are cached per notice and language, so a batch of thousands renders once.

Web routes (mounted at ``/v1/channels/sms/``):

* ``POST status`` - delivery reports, applied with ``context.receipts.update``;
* ``POST inbound`` - replies, stored as tips on the last action that reached the sender.

Both are authenticated: Twilio's ``X-Twilio-Signature``, or for CM a token in the URL.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import aiohttp
from aiohttp import web

from hub.channel import AudienceKind, Channel, ChannelContext, Contact
from hub.errors import TransientDeliveryError
from hub.apidoc import ERROR, XML, documented
from hub.webhooks import signed
from hub.models import Delivery, MessageKind, Notice, PersonalMessage, Receipt, Recipient, Rendered, Urgency

from . import gsm
from .cm import CmGateway
from .providers import SmsProvider
from .twilio import TwilioMessages

PROVIDERS: dict[str, type[SmsProvider]] = {TwilioMessages.name: TwilioMessages, CmGateway.name: CmGateway}
HERE = Path(__file__).parent
SETTINGS_SCHEMA = json.loads((HERE / "settings.schema.json").read_text(encoding="utf-8"))


class SmsChannel(Channel):
    name = "sms"
    title = "SMS to participants' mobile numbers (Twilio Messages API or CM.com bulk gateway)"
    settings_schema = SETTINGS_SCHEMA
    credentials = ("account_sid", "product_token")
    requirements = ("aiohttp",)
    audience = AudienceKind.PARTICIPANTS
    contact = Contact.MOBILE
    # class defaults are the default provider's (Twilio); __init__ sets the chosen provider's values
    batch_size = 1
    concurrency = 64
    rate = 100.0
    templates_dir = HERE / "templates"

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        provider_cls = PROVIDERS[str(self.settings.get("provider", "twilio"))]
        self.provider: SmsProvider = provider_cls(self)
        self.batch_size = provider_cls.batch_size
        self.concurrency = provider_cls.concurrency
        self.rate = provider_cls.rate
        self.max_segments = int(self.settings.get("max_segments", 2))
        self.smart_encoding = bool(self.settings.get("smart_encoding", True))
        self.reply_hint = bool(self.settings.get("reply_hint", False))
        self._messages: dict[tuple[Notice, str], gsm.Fitted] = {}
        self._by_view: dict[tuple[Any, ...], tuple[Any, gsm.Fitted]] = {}
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self.context.sandbox:
            return
        self.provider.check_settings()
        warm = getattr(self.context.templates, "warm", None)
        if warm is not None:  # compiled now rather than while the first alert waits
            warm([f"{kind.value}.txt.j2" for kind in MessageKind] + ["sms_reply_hint.txt.j2"])
        connections = int(self.settings.get("max_connections") or self.provider.concurrency)
        connector = aiohttp.TCPConnector(
            limit=connections, limit_per_host=connections, ttl_dns_cache=300, keepalive_timeout=30
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=float(self.settings.get("timeout", 10))),
            headers=self.provider.session_headers(),
        )
        if self.provider.name == "cm":
            self.context.logger.info(
                "register these URLs in CM's Channels app: status reports %s, incoming messages %s",
                *self.provider.callback_urls().values(),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- layout ---------------------------------------------------------------------------------
    def message(self, notice: Notice, language: str) -> gsm.Fitted:
        """The laid-out text for a notice in a language; cached, since every recipient shares it.

        The engine builds a new ``Notice`` per batch around an ``ActionView`` it keeps for a while,
        so the first lookup is by that view's identity (cheap); the second by the notice's value.
        """
        action = notice.action
        fast = (id(action), notice.kind, notice.changes, language)
        hit = self._by_view.get(fast)
        if hit is not None and hit[0] is action:
            return hit[1]
        key = (notice, language)
        fitted = self._messages.get(key)
        if fitted is None:
            if len(self._messages) >= 512:
                self._messages.clear()
            fitted = self._messages[key] = self._layout(notice, language)
        if len(self._by_view) >= 512:
            self._by_view.clear()
        self._by_view[fast] = (action, fitted)  # holding the view keeps its id from being reused
        return fitted

    def _layout(self, notice: Notice, language: str) -> gsm.Fitted:
        templates = self.context.templates
        action = notice.action
        hint = ""
        if self.reply_hint and notice.kind is not MessageKind.END and action.urgency is Urgency.TIME_CRITICAL:
            hint = templates.render("sms_reply_hint.txt.j2", language)

        def finish(text: str) -> str:
            text = " ".join(f"{text} {hint}".split())
            return gsm.normalize(text) if self.smart_encoding else text

        if notice.kind is MessageKind.END:

            def render(free: str) -> str:
                ended = replace(notice, action=replace(action, result_text=free or None))
                return finish(templates.text(ended, language, variant="short"))

            return gsm.fit(render, action.result_text or "", self.max_segments)

        def render(free: str) -> str:
            return finish(templates.text(notice, language, variant="short", description=free))

        return gsm.fit(render, action.description, self.max_segments)

    def render(self, notice: Notice, recipient: Recipient) -> Rendered:
        fitted = self.message(notice, recipient.language)
        return Rendered(
            text=fitted.text,
            extra={
                "encoding": fitted.info.encoding,
                "segments": fitted.info.segments,
                "shortened": fitted.shortened,
            },
        )

    # -- delivery -------------------------------------------------------------------------------
    async def deliver(self, notice: Notice, deliveries: Sequence[Delivery]) -> Sequence[Receipt]:
        if self._session is None:
            raise TransientDeliveryError("the sms channel is not started", code="not_started")
        return await self.provider.send(self._session, notice, deliveries)

    def provider_ids(self, notice: Notice, deliveries: Sequence[Delivery]) -> Mapping[int, str] | None:
        return None if self.context.sandbox else self.provider.provider_ids(deliveries)

    personal = True

    async def send_personal(self, message: PersonalMessage) -> str | None:
        """A verification code by SMS (GSM-7 where the text allows, like every alert)."""
        if self._session is None:
            raise TransientDeliveryError("the sms channel is not started", code="not_started")
        text = gsm.normalize(message.text) if self.smart_encoding else message.text
        return await self.provider.send_text(self._session, message.address, text)

    # -- callbacks ------------------------------------------------------------------------------
    def web_routes(self) -> Sequence[Any]:
        return [web.post("/status", self._status), web.post("/inbound", self._inbound)]

    @documented("Delivery status callback of the SMS provider (signed)",
                responses={200: None, 204: None, 400: ERROR, 403: ERROR, 413: ERROR}, form=True, public=False)
    @signed(lambda self, request, body: self.provider.callback_signed(request, "status", body))
    async def _status(self, request: web.Request, body: bytes) -> web.StreamResponse:
        return await self.provider.status_callback(request, body)

    @documented("Replies to an alert, from the SMS provider (signed); stored as tips",
                responses={200: XML, 400: ERROR, 403: ERROR, 413: ERROR}, form=True, public=False)
    @signed(lambda self, request, body: self.provider.callback_signed(request, "inbound", body))
    async def _inbound(self, request: web.Request, body: bytes) -> web.StreamResponse:
        return await self.provider.inbound(request, body)

    def describe(self) -> Mapping[str, Any]:
        urls = {k: v.split("?", 1)[0] for k, v in self.provider.callback_urls().items()}
        return {
            "provider": self.provider.name,
            "provider_title": self.provider.title,
            "base_url": self.provider.base_url,
            "max_segments": self.max_segments,
            "smart_encoding": self.smart_encoding,
            "status_callback_url": urls["status"],
            "inbound_url": urls["inbound"],
        }
