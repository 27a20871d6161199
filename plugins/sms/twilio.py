"""Twilio's Programmable Messaging API: one request per recipient, signed callbacks."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Iterable, Mapping
from urllib.parse import quote_plus, urlencode

import aiohttp
from aiohttp import web

from hub.errors import DeliveryError, PermanentDeliveryError, PluginError, TransientDeliveryError
from hub.inbound import form_params
from hub.models import Delivery, Notice, Receipt, ReceiptStatus
from hub.retry import parse_retry_after

from . import signing
from .providers import EMPTY_TWIML, SmsProvider, basic_auth, transport_error

if TYPE_CHECKING:
    from .channel import SmsChannel


#: Twilio error codes that mean "this recipient cannot get this SMS" (never worth a retry)
TWILIO_PERMANENT_RECIPIENT = {
    21211: "invalid 'To' number",
    21214: "'To' number cannot be reached",
    21217: "number does not appear to be valid",
    21401: "invalid phone number",
    21407: "destination not supported",
    21408: "sending to this region is not enabled",
    21610: "recipient unsubscribed (replied STOP)",
    21612: "cannot route to this number",
    21614: "'To' number is not a mobile number",
    21635: "'To' number cannot receive SMS",
}

#: Twilio MessageStatus values in status callbacks -> receipt status (others are ignored)
TWILIO_STATUS = {
    "sent": ReceiptStatus.SENT,
    "delivered": ReceiptStatus.DELIVERED,
    "read": ReceiptStatus.DELIVERED,
    "undelivered": ReceiptStatus.FAILED,
    "failed": ReceiptStatus.FAILED,
    "canceled": ReceiptStatus.FAILED,
}
#: delivery errors in callbacks worth another try (30001: Twilio's queue overflowed)
TWILIO_RETRYABLE_CALLBACK_ERRORS = {"30001"}


def twilio_error(
    status: int,
    raw: bytes,
    retry_after: str | None,
    *,
    permanent_codes: Mapping[int, str],
    operator_codes: Iterable[int] = (),
) -> TransientDeliveryError | PermanentDeliveryError:
    """What a Twilio REST error answer (``{"code", "message", ...}``) means for one request.

    429 and 5xx are transient, honouring ``Retry-After``; a code in ``permanent_codes`` is this
    recipient's permanent failure; 401/403/404 and ``operator_codes`` (credentials, caller id) are
    transient with code ``auth``, since an operator can fix them and the alert should stay queued;
    anything else is permanent. The Voice channel uses the same reading of Twilio's errors.
    """
    try:
        body = json.loads(raw)
        code = int(body.get("code") or 0)
        text = str(body.get("message") or "")
    except (ValueError, TypeError, AttributeError):
        code, text = 0, raw[:200].decode("utf-8", "replace")
    reason = f"Twilio {status} {code or ''}: {text}".strip()
    if status == 429:
        return TransientDeliveryError(
            reason, code="rate_limited", retry_after=parse_retry_after(retry_after), provider_status=status
        )
    if status >= 500:
        return TransientDeliveryError(
            reason, code="provider_unavailable", retry_after=parse_retry_after(retry_after), provider_status=status
        )
    if code in permanent_codes:
        return PermanentDeliveryError(reason, code=f"twilio_{code}", provider_status=status)
    if status in (401, 403, 404) or code in operator_codes:
        return TransientDeliveryError(reason, code="auth", provider_status=status)
    return PermanentDeliveryError(reason, code=f"twilio_{code}" if code else "rejected", provider_status=status)


class TwilioMessages(SmsProvider):
    """Twilio's Programmable Messaging REST API: one ``POST .../Messages.json`` per recipient.

    Form-encoded ``To``, ``From`` (or ``MessagingServiceSid``), ``Body``, ``StatusCallback``;
    HTTP Basic auth with the account SID and auth token; ``201`` with the message resource
    (``sid``) on success, or an error object ``{"code", "message", "more_info", "status"}``.
    """

    name = "twilio"
    title = "Twilio Messages API"
    default_base_url = "https://api.twilio.com"
    batch_size = 1
    concurrency = 64
    #: a Messaging Service with a short code or several senders; a single long code manages far less
    rate = 100.0
    required = ("account_sid", "auth_token")

    def __init__(self, channel: "SmsChannel") -> None:
        super().__init__(channel)
        sid = str(self.settings.get("account_sid", ""))
        self.url = f"{self.base_url}/2010-04-01/Accounts/{sid}/Messages.json"
        fixed: list[tuple[str, str]] = []
        if self.settings.get("messaging_service_sid"):
            fixed.append(("MessagingServiceSid", str(self.settings["messaging_service_sid"])))
        if self.settings.get("sender"):
            fixed.append(("From", str(self.settings["sender"])))
        if self.settings.get("status_callbacks", True):
            fixed.append(("StatusCallback", self.context.url("status")))
        if self.settings.get("validity_minutes"):
            fixed.append(("ValidityPeriod", str(int(self.settings["validity_minutes"]) * 60)))
        #: the form fields shared by every request, encoded once
        self._prefix = urlencode(fixed)
        self._bodies: dict[str, str] = {}

    def check_settings(self) -> None:
        super().check_settings()
        if not (self.settings.get("sender") or self.settings.get("messaging_service_sid")):
            raise PluginError("sms provider 'twilio' needs 'sender' or 'messaging_service_sid'")

    def session_headers(self) -> dict[str, str]:
        return {
            **super().session_headers(),
            "Authorization": basic_auth(str(self.settings.get("account_sid", "")), str(self.settings.get("auth_token", ""))),
            "Content-Type": "application/x-www-form-urlencoded",
        }

    def _form(self, to: str, text: str) -> bytes:
        body = self._bodies.get(text)
        if body is None:
            if len(self._bodies) > 256:
                self._bodies.clear()
            body = self._bodies[text] = quote_plus(text)
        to = "%2B" + to[1:] if to[:1] == "+" and to[1:].isdigit() else quote_plus(to)
        return f"{self._prefix}&To={to}&Body={body}".encode()

    async def send(self, session, notice, deliveries):
        if len(deliveries) == 1:
            return [await self._send_one(session, notice, deliveries[0])]
        results = await asyncio.gather(
            *(self._send_one(session, notice, d) for d in deliveries), return_exceptions=True
        )
        receipts = []
        for delivery, result in zip(deliveries, results):
            if isinstance(result, Receipt):
                receipts.append(result)
            elif isinstance(result, DeliveryError):
                receipts.append(Receipt.failed(delivery, result))
            elif isinstance(result, Exception):
                error = TransientDeliveryError(f"{type(result).__name__}: {result}", code="crash")
                error.__cause__ = result
                receipts.append(Receipt.failed(delivery, error))
            else:
                raise result
        return receipts

    async def _post(self, session: aiohttp.ClientSession, to: str, text: str) -> tuple[int, bytes, str | None]:
        data = self._form(to, text)
        try:
            async with session.post(self.url, data=data) as resp:
                return resp.status, await resp.read(), resp.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise transport_error("Twilio", e) from e

    async def send_text(self, session: aiohttp.ClientSession, to: str, text: str) -> str:
        """The sid of the message Twilio accepted, or a typed error (transient when worth another try)."""
        status, raw, retry_after = await self._post(session, to, text)
        if status in (200, 201):
            try:
                return str(json.loads(raw)["sid"])
            except (ValueError, KeyError, TypeError) as e:
                raise TransientDeliveryError(
                    "Twilio accepted the message but its answer has no sid", code="bad_response", provider_status=status
                ) from e
        raise twilio_error(status, raw, retry_after, permanent_codes=TWILIO_PERMANENT_RECIPIENT)

    async def _send_one(self, session: aiohttp.ClientSession, notice: Notice, delivery: Delivery) -> Receipt:
        message = self.channel.message(notice, delivery.recipient.language)
        try:
            sid = await self.send_text(session, delivery.recipient.address, message.text)
        except PermanentDeliveryError as error:
            return Receipt.failed(delivery, error)
        return Receipt.sent(delivery, provider_id=sid, segments=message.info.segments)

    # -- callbacks ------------------------------------------------------------------------------
    def callback_signed(self, request: web.Request, route: str, body: bytes) -> bool:
        return signing.twilio_request_signed(str(self.settings.get("auth_token") or ""), self.context.url(route), request, body)

    async def status_callback(self, request, body):
        form = dict(form_params(body, request.content_type))
        sid = form.get("MessageSid") or form.get("SmsSid")
        state = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
        mapped = TWILIO_STATUS.get(state)
        if sid and mapped is not None:
            error_code = form.get("ErrorCode") or ""
            reason = None
            permanent = True
            if mapped is ReceiptStatus.FAILED:
                reason = f"{state} (Twilio error {error_code})" if error_code else state
                permanent = error_code not in TWILIO_RETRYABLE_CALLBACK_ERRORS
            await self.context.receipts.update(sid, mapped, reason, permanent=permanent)
        return web.Response(status=204)

    async def inbound(self, request, body):
        form = dict(form_params(body, request.content_type))
        sender, body = form.get("From"), form.get("Body") or ""
        if sender:
            await self._tip(sender, body)
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")
