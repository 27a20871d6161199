"""The voice channel: a text-to-speech call to participants' phone numbers, landlines included.

Each delivery is one ``POST /2010-04-01/Accounts/{sid}/Calls.json`` to a Twilio-compatible Calls API
with the TwiML inline (``Twiml``), or, when it is longer than Twilio's 4,000 characters or
``twiml = "url"``, a ``Url`` to this channel's signed ``twiml/<key>`` route. The message is read
twice; the call-back number slowly, digit by digit (see :mod:`.speech`).

Call outcomes arrive at ``POST status`` (Twilio's ``StatusCallback``, events ``answered`` and
``completed``) and become receipts through ``context.receipts.update``:

==========================================  ===============================================
Twilio says                                 receipt
==========================================  ===============================================
``in-progress`` (answered), ``completed``   delivered
``completed`` with ``AnsweredBy=machine_*``  delivered (voicemail), or retried when
                                            ``on_voicemail = "retry"``
``busy``, ``no-answer``                     failed, ``permanent=False`` while the attempt is
                                            within ``no_answer_retries``: the hub calls again
``failed``, ``canceled``, fax               failed, permanent
==========================================  ===============================================

The attempt number rides in the status-callback URL, which Twilio's signature covers.

Quiet hours need nothing here: the hub leaves participants who paused the channel (at night, on
holiday) out of the audience before deliveries are made.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from hub.channel import AudienceKind, Channel, ChannelContext, Contact
from hub.errors import PermanentDeliveryError, PluginError, TransientDeliveryError, ValidationError
from hub.inbound import form_params
from hub.apidoc import ERROR, XML, documented
from hub.webhooks import signed
from hub.models import Delivery, Notice, PersonalMessage, Receipt, ReceiptStatus, Recipient, Rendered

from plugins.sms import signing  # Twilio signs voice and SMS webhooks alike
from plugins.sms.twilio import twilio_error  # ... and answers both APIs' errors alike

from . import speech

HERE = Path(__file__).parent
SETTINGS_SCHEMA = json.loads((HERE / "settings.schema.json").read_text(encoding="utf-8"))

#: Twilio's limit on the ``Twiml`` parameter of a call
INLINE_TWIML_LIMIT = 4000

#: Twilio error codes meaning "this number cannot be called" (never worth a retry)
PERMANENT_NUMBER_ERRORS = {
    13223: "invalid phone number format",
    13224: "invalid phone number",
    21211: "invalid 'To' number",
    21214: "'To' number cannot be reached",
    21215: "calling this number's region is not enabled",
    21216: "calling this number is not allowed",
    21217: "number does not appear to be valid",
    21401: "invalid phone number",
    21407: "destination not supported",
}
#: caller id not verified or not allowed: fixable by the operator
CALLER_ID_ERRORS = (21210, 21212, 21213)



MACHINE = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other")
DEFAULT_VOICES = {"nl": "Polly.Lotte", "en": "Polly.Amy"}


class VoiceChannel(Channel):
    name = "voice"
    title = "Text-to-speech calls to participants' phones, landlines included (Twilio Calls API)"
    settings_schema = SETTINGS_SCHEMA
    credentials = ("account_sid",)
    requirements = ("aiohttp",)
    audience = AudienceKind.PARTICIPANTS
    contact = Contact.PHONE
    batch_size = 1
    concurrency = 16
    #: Twilio's default is one new call per second per account; raise it there first, then here
    rate = 1.0
    templates_dir = HERE / "templates"

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        s = self.settings
        self.base_url = str(s.get("base_url") or "https://api.twilio.com").rstrip("/")
        self.url = f"{self.base_url}/2010-04-01/Accounts/{s.get('account_sid', '')}/Calls.json"
        self.repeat = int(s.get("repeat", 2))
        self.ssml = bool(s.get("ssml", True))
        self.voices = {"nl": s.get("voice_nl", DEFAULT_VOICES["nl"]), "en": s.get("voice_en", DEFAULT_VOICES["en"])}
        self.twiml_mode = str(s.get("twiml", "auto"))
        self.machine_detection = bool(s.get("machine_detection", True))
        self.on_voicemail = str(s.get("on_voicemail", "deliver"))
        self.no_answer_retries = int(s.get("no_answer_retries", 2))
        #: after the first read: press 1 to be put through to the call-back number, 2 to hear it again
        self.menu = bool(s.get("menu", True))
        self._fixed = [
            ("From", str(s.get("caller_id", ""))),
            ("StatusCallbackMethod", "POST"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
            ("Timeout", str(int(s.get("ring_timeout", 30)))),
            ("TimeLimit", str(int(s.get("time_limit", 180)))),
        ]
        if self.machine_detection:
            # wait for the voicemail greeting to end, so the whole message lands on the voicemail
            self._fixed.append(("MachineDetection", "DetectMessageEnd"))
        self._calls: dict[tuple[Notice, str], tuple[speech.Script, str, str]] = {}
        self._stored: set[str] = set()
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self.context.sandbox:
            return
        missing = [k for k in ("account_sid", "auth_token", "caller_id") if not self.settings.get(k)]
        if missing:
            raise PluginError(f"the voice channel needs the settings: {', '.join(missing)}")
        connections = int(self.settings.get("max_connections") or self.concurrency)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, limit_per_host=connections, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=float(self.settings.get("timeout", 15))),
            headers={
                "Accept": "application/json",
                "User-Agent": "burgerhub-voice",
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": "Basic "
                + base64.b64encode(f"{self.settings['account_sid']}:{self.settings['auth_token']}".encode()).decode(),
            },
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- layout ---------------------------------------------------------------------------------
    def call(self, notice: Notice, language: str) -> tuple[speech.Script, str, str]:
        """The script, TwiML and record key of a notice in a language; cached, since every callee shares them."""
        cache_key = (notice, language)
        cached = self._calls.get(cache_key)
        if cached is None:
            if len(self._calls) >= 256:
                self._calls.clear()
            script = speech.compose(self.context.templates, notice, language, repeat=self.repeat, menu=self.menu)
            # stable per text: the menu's "press 2" and the TwiML URL find the call again by it
            key = hashlib.sha256(f"{script.language}\n{script.plain()}".encode()).hexdigest()[:32]
            query = {"key": key, "lang": script.language}
            if speech.can_dial(notice):
                query["dial"] = speech.dial_digits(notice)
            menu_action = f"{self.context.url('menu')}?{urlencode(query)}" if self.menu else None
            voice = self.voices.get(script.language) or None
            xml = speech.twiml(script, voice=voice, ssml=self.ssml, menu_action=menu_action)
            cached = self._calls[cache_key] = (script, xml, key)
        return cached

    def render(self, notice: Notice, recipient: Recipient) -> Rendered:
        script, xml, _ = self.call(notice, recipient.language)
        return Rendered(text=script.plain(), extra={"twiml": xml, "language": script.say_language})

    # -- delivery -------------------------------------------------------------------------------
    async def deliver(self, notice: Notice, deliveries: Sequence[Delivery]) -> Sequence[Receipt]:
        if self._session is None:
            raise TransientDeliveryError("the voice channel is not started", code="not_started")
        if len(deliveries) == 1:
            return [await self._call(notice, deliveries[0])]
        results = await asyncio.gather(*(self._call(notice, d) for d in deliveries), return_exceptions=True)
        receipts = []
        for delivery, result in zip(deliveries, results):
            if isinstance(result, Receipt):
                receipts.append(result)
            elif isinstance(result, Exception):
                if not isinstance(result, (TransientDeliveryError, PermanentDeliveryError)):
                    wrapped = TransientDeliveryError(f"{type(result).__name__}: {result}", code="crash")
                    wrapped.__cause__ = result
                    result = wrapped
                receipts.append(Receipt.failed(delivery, result))
            else:
                raise result
        return receipts

    async def _twiml_param(self, notice: Notice, language: str) -> tuple[str, str]:
        _, xml, key = self.call(notice, language)
        inline = self.twiml_mode == "inline" or (self.twiml_mode == "auto" and len(xml) <= INLINE_TWIML_LIMIT)
        if (self.menu or not inline) and key not in self._stored:
            # kept for the menu's "press 2" (any hub of a cluster may answer it) and for the TwiML URL
            await self.context.records.put(f"twiml:{key}", {"xml": xml, "language": language})
            self._stored.add(key)
        if inline:
            return "Twiml", xml
        return "Url", self.context.url(f"twiml/{key}")

    async def _call(self, notice: Notice, delivery: Delivery) -> Receipt:
        assert self._session is not None
        param = await self._twiml_param(notice, delivery.recipient.language)
        form = [
            ("To", delivery.recipient.address),
            param,
            ("StatusCallback", f"{self.context.url('status')}?attempt={delivery.attempt}"),
            *self._fixed,
        ]
        try:
            sid = await self._create_call(form)
        except PermanentDeliveryError as error:
            return Receipt.failed(delivery, error)
        return Receipt.sent(delivery, provider_id=sid)

    async def _create_call(self, form: list[tuple[str, str]]) -> str:
        """The sid of the call Twilio placed, or a typed error (transient when worth another try)."""
        assert self._session is not None
        try:
            async with self._session.post(self.url, data=urlencode(form).encode()) as resp:
                status, raw, retry_after = resp.status, await resp.read(), resp.headers.get("Retry-After")
        except asyncio.TimeoutError as e:
            raise TransientDeliveryError("Twilio did not answer in time", code="timeout") from e
        except aiohttp.ClientError as e:
            raise TransientDeliveryError(f"cannot reach Twilio: {type(e).__name__}: {e}", code="connection") from e
        if status in (200, 201):
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            sid = body.get("sid") if isinstance(body, dict) else None
            if not sid:
                raise TransientDeliveryError("Twilio's answer has no call sid", code="bad_response", provider_status=status)
            return str(sid)
        raise twilio_error(status, raw, retry_after, permanent_codes=PERMANENT_NUMBER_ERRORS,
                           operator_codes=CALLER_ID_ERRORS)

    # -- personal messages ----------------------------------------------------------------------
    personal = True

    def personal_call(self, message: PersonalMessage) -> tuple[speech.Script, str]:
        """The script and TwiML of a verification call: the text (its code digit by digit), three times."""
        language = message.language if message.language in speech.SAY_LANGUAGE else speech.DEFAULT_LANGUAGE
        once = speech.split_message(" ".join(message.text.split()), message.code or "", "")
        parts: list[speech.Part] = list(once)
        for _ in range(2):
            parts.append(speech.Pause(speech.REPEAT_PAUSE_S))
            parts.extend(once)
        script = speech.Script(language=language, parts=tuple(parts))
        return script, speech.twiml(script, voice=self.voices.get(language) or None, ssml=self.ssml)

    async def send_personal(self, message: PersonalMessage) -> str | None:
        """A call that reads a verification code (to a landline, which cannot get an SMS)."""
        if self._session is None:
            raise TransientDeliveryError("the voice channel is not started", code="not_started")
        _, xml = self.personal_call(message)
        s = self.settings
        form = [
            ("To", message.address),
            ("Twiml", xml),
            ("From", str(s.get("caller_id", ""))),
            ("Timeout", str(int(s.get("ring_timeout", 30)))),
            ("TimeLimit", str(int(s.get("time_limit", 180)))),
        ]
        return await self._create_call(form)

    # -- callbacks ------------------------------------------------------------------------------
    def web_routes(self) -> Sequence[Any]:
        return [
            web.post("/status", self._status),
            web.post("/twiml/{key}", self._twiml),
            web.get("/twiml/{key}", self._twiml),
            web.post("/menu", self._menu),
        ]

    def _signed(self, request: web.Request, body: bytes) -> bool:
        key = request.match_info.get("key")
        route = f"twiml/{key}" if key is not None else request.path.rstrip("/").rsplit("/", 1)[-1]
        token = str(self.settings.get("auth_token") or "")
        return signing.twilio_request_signed(token, self.context.url(route), request, body)

    @documented("The call script (TwiML) Twilio fetches for a call (signed)",
                responses={200: XML, 403: ERROR, 404: ERROR, 413: ERROR}, form=True, public=False)
    @signed(_signed)
    async def _twiml(self, request: web.Request, body: bytes) -> web.StreamResponse:
        record = await self.context.records.get(f"twiml:{request.match_info['key']}")
        if record is None:
            raise web.HTTPNotFound()
        return web.Response(text=record["xml"], content_type="text/xml")

    @documented("The listener pressed a key during a call (Twilio's Gather action, signed)",
                responses={200: XML, 403: ERROR, 404: ERROR, 413: ERROR}, form=True, public=False)
    @signed(_signed)
    async def _menu(self, request: web.Request, body: bytes) -> web.StreamResponse:
        """The listener pressed a key (Twilio's ``<Gather>`` action): 1 dials the call-back number, any
        other key plays the message again. The query (key, language, number) is ours, and Twilio's
        signature covers it."""
        form = dict(form_params(body, request.content_type))
        language = request.query.get("lang", "nl")
        dial = request.query.get("dial", "")
        if form.get("Digits") == "1" and dial:
            response = ET.Element("Response")
            attrs = {"language": speech.SAY_LANGUAGE.get(language, "nl-NL")}
            if self.voices.get(language):
                attrs["voice"] = self.voices[language]
            ET.SubElement(response, "Say", attrs).text = self.context.templates.render("voice_connect.txt.j2", language)
            ET.SubElement(response, "Dial").text = dial
            xml = '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(response, encoding="unicode")
            return web.Response(text=xml, content_type="text/xml")
        record = await self.context.records.get(f"twiml:{request.query.get('key', '')}")
        if record is None:
            raise web.HTTPNotFound()
        return web.Response(text=record["xml"], content_type="text/xml")

    @documented("Call status callback from Twilio (signed)",
                responses={204: None, 400: ERROR, 403: ERROR, 413: ERROR, 422: ERROR}, form=True, public=False)
    @signed(_signed)
    async def _status(self, request: web.Request, body: bytes) -> web.StreamResponse:
        form = dict(form_params(body, request.content_type))
        sid = form.get("CallSid")
        if not sid:
            raise ValidationError("CallSid", "is required")
        try:
            attempt = int(request.query.get("attempt", "1"))
        except ValueError:
            attempt = 1
        outcome = self.outcome(form.get("CallStatus", ""), form.get("AnsweredBy"), attempt, form)
        if outcome is not None:
            status, reason, permanent = outcome
            await self.context.receipts.update(sid, status, reason, permanent=permanent)
        return web.Response(status=204)

    def outcome(
        self, call_status: str, answered_by: str | None, attempt: int, form: Mapping[str, str] | None = None
    ) -> tuple[ReceiptStatus, str | None, bool] | None:
        """What one status callback means for the receipt: (status, reason, permanent), or None to ignore."""
        call_status = call_status.lower()
        answered_by = (answered_by or "").lower()
        may_retry = attempt <= self.no_answer_retries
        if call_status == "in-progress":
            # with machine detection on, wait for ``completed``: only it carries the final AnsweredBy
            return None if self.machine_detection else (ReceiptStatus.DELIVERED, "answered", True)
        if call_status == "completed":
            if answered_by == "fax":
                return ReceiptStatus.FAILED, "fax", True
            if answered_by in MACHINE:
                if self.on_voicemail == "retry":
                    return ReceiptStatus.FAILED, "voicemail", not may_retry
                return ReceiptStatus.DELIVERED, "voicemail", True
            return ReceiptStatus.DELIVERED, "answered", True
        if call_status in ("busy", "no-answer"):
            return ReceiptStatus.FAILED, call_status, not may_retry
        if call_status in ("failed", "canceled"):
            sip = (form or {}).get("SipResponseCode")
            return ReceiptStatus.FAILED, f"{call_status} (SIP {sip})" if sip else call_status, True
        return None  # queued, initiated, ringing

    def describe(self) -> Mapping[str, Any]:
        return {
            "provider": "twilio",
            "base_url": self.base_url,
            "voices": dict(self.voices),
            "ssml": self.ssml,
            "repeat": self.repeat,
            "machine_detection": self.machine_detection,
            "on_voicemail": self.on_voicemail,
            "no_answer_retries": self.no_answer_retries,
            "menu": self.menu,
            "status_callback_url": self.context.url("status"),
        }
