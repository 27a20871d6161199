"""CM.com's JSON gateway: up to 1,000 recipients per request, token-protected webhooks."""

from __future__ import annotations

import asyncio
import json
import secrets
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Sequence

import aiohttp
from aiohttp import web

from hub.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from hub.inbound import parse_json
from hub.models import Delivery, Notice, Receipt, ReceiptStatus
from hub.retry import parse_retry_after

from . import signing
from .providers import SmsProvider, e164, transport_error

if TYPE_CHECKING:
    from .channel import SmsChannel


#: CM per-message error codes that are worth retrying (account, balance, CM-side trouble)
CM_TRANSIENT_CODES = {101, 102, 103, 500, 999}
#: CM status report codes -> receipt status
CM_STATUS = {
    "0": ReceiptStatus.SENT,  # accepted by the operator
    "1": ReceiptStatus.FAILED,  # rejected by CM or the operator
    "2": ReceiptStatus.DELIVERED,
    "3": ReceiptStatus.FAILED,  # not delivered and never will be
}


def cm_number(address: str) -> str:
    """CM wants international numbers with a ``00`` prefix (``0031612345678``)."""
    return "00" + address[1:] if address.startswith("+") else address


class _Sent(NamedTuple):
    """One recipient of a request: the delivery, its message's reference and length."""

    delivery: Delivery
    reference: str
    parts: int
    detail: Mapping[str, Any]

    def receipt(self, reference: Any = None, parts: Any = None) -> Receipt:
        """The sent receipt; its provider id ``<reference>:<E.164>`` is what CM's status reports carry."""
        address = self.delivery.recipient.address
        number = address if address[:1] == "+" else e164(address)
        detail = self.detail if not parts or parts == self.parts else {"segments": parts}
        return Receipt(
            delivery_id=self.delivery.id, status=ReceiptStatus.SENT,
            provider_id=f"{reference or self.reference}:{number}", detail=detail,
        )


class CmGateway(SmsProvider):
    """CM.com's JSON gateway (``POST /v1.0/message``): up to 1,000 recipients per request.

    Recipients of one batch that get the same text share one ``msg`` element with a ``to`` list and
    a fresh ``reference``; the provider id of each delivery is ``<reference>:<E.164 number>``, which is
    exactly what CM's status reports carry. CM does not sign webhooks: the status-report and
    incoming-message URLs carry a token made from the hub's secret (see :mod:`.signing`).
    """

    name = "cm"
    title = "CM.com bulk JSON gateway"
    default_base_url = "https://gw.messaging.cm.com"
    batch_size = 1000
    concurrency = 4
    rate = 1000.0
    required = ("product_token", "sender")

    def __init__(self, channel: "SmsChannel") -> None:
        super().__init__(channel)
        self.url = f"{self.base_url}/v1.0/message"
        self.validity = self.settings.get("validity_minutes")

    def session_headers(self) -> dict[str, str]:
        return {**super().session_headers(), "Content-Type": "application/json; charset=utf-8"}

    def callback_urls(self) -> dict[str, str]:
        return {
            route: f"{self.context.url(route)}?token={signing.url_token(self.context.secret, route)}"
            for route in ("status", "inbound")
        }

    @staticmethod
    def _groups(deliveries: Sequence[Delivery]) -> dict[str, list[Delivery]]:
        """The deliveries by language: one ``msg`` (one text, many numbers) each."""
        groups: dict[str, list[Delivery]] = {}
        for d in deliveries:
            group = groups.get(d.recipient.language)
            if group is None:
                group = groups[d.recipient.language] = []
            group.append(d)
        return groups

    @staticmethod
    def _reference(group: Sequence[Delivery]) -> str:
        """A message's ``reference``, chosen from the ledger (its lowest row id), not at random: CM
        returns it in every status report, so a report that arrives after a crash of the hub still
        names the row (``<reference>:<number>``, written before the request by ``provider_ids``)."""
        return f"bh{min(d.id for d in group)}"

    def provider_ids(self, deliveries: Sequence[Delivery]) -> dict[int, str]:
        out = {}
        for group in self._groups(deliveries).values():
            reference = self._reference(group)
            for d in group:
                address = d.recipient.address
                out[d.id] = f"{reference}:{address if address[:1] == '+' else e164(address)}"
        return out

    def _payload(self, notice: Notice, deliveries: Sequence[Delivery]) -> tuple[bytes, dict[str, _Sent]]:
        """The request body, and per number as it was sent (``0031…``) what became of whom."""
        groups = self._groups(deliveries)
        messages, sent = [], {}
        max_segments = self.channel.max_segments
        for language, group in groups.items():
            message = self.channel.message(notice, language)
            reference = self._reference(group)
            parts = message.info.segments
            detail = MappingProxyType({"segments": parts})
            numbers = [cm_number(d.recipient.address) for d in group]
            msg: dict[str, Any] = {
                "allowedChannels": ["SMS"],
                "from": self.settings["sender"],
                "to": [{"number": n} for n in numbers],
                "body": {"type": "auto", "content": message.text},
                "reference": reference,
                "minimumNumberOfMessageParts": 1,
                # never let the gateway cut the message: the call-back number is at its end
                "maximumNumberOfMessageParts": max(max_segments, parts),
            }
            if self.validity:
                msg["validity"] = f"{int(self.validity)}m"
            messages.append(msg)
            for number, d in zip(numbers, group):
                sent[number] = _Sent(d, reference, parts, detail)
        payload = {
            "messages": {"authentication": {"producttoken": self.settings["product_token"]}, "msg": messages}
        }
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(), sent

    async def send_text(self, session, to: str, text: str) -> str:
        reference = secrets.token_hex(12)
        msg: dict[str, Any] = {
            "allowedChannels": ["SMS"],
            "from": self.settings["sender"],
            "to": [{"number": cm_number(to)}],
            "body": {"type": "auto", "content": text},
            "reference": reference,
        }
        payload = {"messages": {"authentication": {"producttoken": self.settings["product_token"]}, "msg": [msg]}}
        try:
            async with session.post(self.url, data=json.dumps(payload, ensure_ascii=False).encode()) as resp:
                status, raw = resp.status, await resp.read()
                retry_after = resp.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise transport_error("CM", e) from e
        if status == 429 or status >= 500:
            raise TransientDeliveryError(f"CM answered {status}", code="provider_unavailable",
                                         retry_after=parse_retry_after(retry_after), provider_status=status)
        try:
            body = json.loads(raw)
            entries = [e for e in body.get("messages") or () if isinstance(e, dict)]
            error_code = int(body.get("errorCode") or 0)
        except (ValueError, TypeError, AttributeError) as e:
            raise TransientDeliveryError(f"CM answered {status} with an unreadable body", code="bad_response") from e
        if status < 300 and (error_code == 0 or any(str(e.get("status", "")).lower() == "accepted" for e in entries)):
            return f"{reference}:{to}"
        raise PermanentDeliveryError(f"CM {status} error {error_code}: {body.get('details') or ''}".strip(),
                                     code=f"cm_{error_code}", provider_status=status)

    async def send(self, session, notice, deliveries):
        data, sent = self._payload(notice, deliveries)
        try:
            async with session.post(self.url, data=data) as resp:
                status = resp.status
                raw = await resp.read()
                retry_after = resp.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise transport_error("CM", e) from e
        if status == 429:
            raise TransientDeliveryError(
                "CM: too many requests", code="rate_limited", retry_after=parse_retry_after(retry_after), provider_status=429
            )
        if status >= 500:
            raise TransientDeliveryError(
                f"CM answered {status}", code="provider_unavailable",
                retry_after=parse_retry_after(retry_after), provider_status=status,
            )
        try:
            body = json.loads(raw)
            error_code = int(body.get("errorCode") or 0)
            details = str(body.get("details") or "")
            results = body.get("messages") or []
        except (ValueError, TypeError, AttributeError) as e:
            if status in (401, 403):
                raise TransientDeliveryError(f"CM answered {status}", code="auth", provider_status=status) from e
            raise TransientDeliveryError(
                f"CM answered {status} with an unreadable body", code="bad_response", provider_status=status
            ) from e
        if not results:
            if status < 300 and error_code == 0:
                return [s.receipt() for s in sent.values()]
            reason = f"CM {status} error {error_code}: {details}"
            if status in (401, 403) or error_code in CM_TRANSIENT_CODES:
                raise TransientDeliveryError(reason, code="auth", provider_status=status)
            if status >= 400:
                raise PermanentDeliveryError(reason, code=f"cm_{error_code}", provider_status=status)
        # CM echoes each number as it was sent; any other spelling is matched through E.164
        by_number: dict[str, Any] = {}
        for entry in results:
            if isinstance(entry, dict) and entry.get("to"):
                to = str(entry["to"])
                by_number[to if to in sent else cm_number(e164(to))] = entry
        receipts = []
        for number, s in sent.items():
            entry = by_number.get(number)
            if entry is None:
                receipts.append(
                    Receipt.failed(s.delivery, TransientDeliveryError("CM gave no result for this number", code="no_result"))
                )
                continue
            if str(entry.get("status", "")).lower() == "accepted":
                receipts.append(s.receipt(entry.get("reference"), entry.get("parts")))
                continue
            code = int(entry.get("messageErrorCode") or 0)
            reason = f"CM rejected ({code}): {entry.get('messageDetails') or 'no details'}"
            if code in CM_TRANSIENT_CODES:
                error: DeliveryError = TransientDeliveryError(reason, code=f"cm_{code}", provider_status=status)
            else:
                error = PermanentDeliveryError(reason, code=f"cm_{code}", provider_status=status)
            receipts.append(Receipt.failed(s.delivery, error))
        return receipts

    # -- callbacks ------------------------------------------------------------------------------
    def callback_signed(self, request: web.Request, route: str, body: bytes) -> bool:
        return signing.verify_url_token(self.context.secret, route, request.query.get("token"))

    async def status_callback(self, request, raw):
        body = parse_json(raw)
        messages = body.get("messages") if isinstance(body, dict) else None
        msgs = messages.get("msg", []) if isinstance(messages, dict) else []
        if isinstance(msgs, dict):
            msgs = [msgs]
        if not isinstance(msgs, list):
            raise web.HTTPBadRequest(text="expected messages.msg")
        for msg in msgs:
            if not isinstance(msg, dict):
                continue
            status = msg.get("status") or {}
            code = str(status.get("code", "")) if isinstance(status, dict) else str(status)
            mapped = CM_STATUS.get(code)
            reference, to = msg.get("reference"), msg.get("to")
            if mapped is None or not reference or not to:
                continue
            reason = None
            if mapped is ReceiptStatus.FAILED and isinstance(status, dict):
                reason = " ".join(str(status.get(k) or "") for k in ("errorCode", "errorDescription")).strip() or None
            await self.context.receipts.update(f"{reference}:{e164(str(to))}", mapped, reason)
        return web.Response(status=200)

    async def inbound(self, request, raw):
        body = parse_json(raw)
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        sender = body.get("from")
        if isinstance(sender, dict):
            sender = sender.get("number")
        message = body.get("message")
        text = message.get("text") if isinstance(message, dict) else body.get("body")
        if sender and isinstance(text, str):
            await self._tip(str(sender), text)
        return web.Response(status=200)
