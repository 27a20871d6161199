"""The Messenger Platform Send API over httpx, and what its errors mean for a delivery.

``POST {base_url}/{api_version}/me/messages?access_token=<page token>`` with a JSON body
``{"recipient": {"id": PSID}, "messaging_type": "RESPONSE" | "UPDATE", "message": {"text": ...}}``
answers ``{"recipient_id": ..., "message_id": ...}``, or an error object
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``. With an app secret the call
also carries ``appsecret_proof`` (HMAC-SHA256 of the token), which pages set to "require app secret"
demand.

Errors, by Graph error code (Messenger Platform error-code reference):

=============================================  ===================================================
HTTP 429; codes 4, 17, 32, 613, 80006          throttled: :class:`TransientDeliveryError`, with
                                               ``Retry-After`` or ``X-Business-Use-Case-Usage``'s
                                               ``estimated_time_to_regain_access`` when given
codes 1, 2, 1200; HTTP 5xx; network errors      temporary: :class:`TransientDeliveryError`
code 551; code 100 / subcode 2018001           :class:`RecipientUnavailable` (blocked the page, no
                                               such user): permanent, and the subscriber is removed
code 10 / subcodes 2018065, 2018108            :class:`OutsideWindow`: permanent, subscriber kept
codes 190, 10, 200-299, 230                    the page token or permissions: transient (the
                                               operator must fix it; never the person's fault)
other 4xx                                      :class:`PermanentDeliveryError`
=============================================  ===================================================
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any, Mapping

import httpx

from hub.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from hub.retry import parse_retry_after

log = logging.getLogger("burgerhub.channel.messenger")

MAX_TEXT = 2000  # the Send API's limit for message.text
THROTTLED = frozenset({4, 17, 32, 613, 80006})
TEMPORARY = frozenset({1, 2, 1200})
CONFIGURATION = frozenset({190, 10, 230}) | frozenset(range(200, 300))
#: a floor for throttling without a hint: hammering a throttled page makes it worse
THROTTLE_FLOOR_S = 10.0


class RecipientUnavailable(PermanentDeliveryError):
    """The person blocked the page, deleted the conversation or the PSID is unknown."""


class OutsideWindow(PermanentDeliveryError):
    """More than 24 hours since the person last wrote: standard messaging is closed."""


def appsecret_proof(token: str, app_secret: str) -> str:
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


class SendApi:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        api_version: str,
        page_token: str,
        app_secret: str | None = None,
    ):
        self.client = client
        self.url = f"{base_url.rstrip('/')}/{api_version}/me/messages"
        self.params = {"access_token": page_token}
        if app_secret:
            self.params["appsecret_proof"] = appsecret_proof(page_token, app_secret)

    async def send_text(self, psid: str, text: str, *, messaging_type: str = "UPDATE") -> str | None:
        """Send one text message; return its ``message_id``. Raises a :class:`DeliveryError`."""
        if len(text) > MAX_TEXT:
            text = text[: MAX_TEXT - 1].rstrip() + "…"
        body = {"recipient": {"id": psid}, "messaging_type": messaging_type, "message": {"text": text}}
        try:
            resp = await self.client.post(self.url, params=self.params, json=body)
        except httpx.TimeoutException as e:
            # ambiguous (it may have been sent); at-least-once prefers a duplicate to a miss
            raise TransientDeliveryError(f"Send API timed out: {type(e).__name__}", code="timeout") from e
        except httpx.TransportError as e:
            raise TransientDeliveryError(f"Send API unreachable: {e}", code="network") from e
        if resp.status_code == 200:
            try:
                data = resp.json()
            except ValueError:
                data = {}
            return data.get("message_id") if isinstance(data, dict) else None
        raise classify(resp.status_code, _json(resp), resp.headers)


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def classify(status: int, body: Any, headers: Mapping[str, str]) -> DeliveryError:
    """A Send API error response as a typed delivery error (see the module's table)."""
    err = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
    code = err.get("code") if isinstance(err.get("code"), int) else None
    sub = err.get("error_subcode") if isinstance(err.get("error_subcode"), int) else None
    reason = f"Send API {status}: {err.get('message') or 'no error message'} (code {code}, subcode {sub})"[:300]
    label = f"graph_{code}" if code is not None else f"http_{status}"
    if status == 429 or code in THROTTLED:
        wait = _retry_after(headers)
        return TransientDeliveryError(reason, code=label, provider_status=status,
                                      retry_after=wait if wait is not None else THROTTLE_FLOOR_S)
    if status >= 500 or code in TEMPORARY or (code is None and status in (408, 409)):
        return TransientDeliveryError(reason, code=label, provider_status=status, retry_after=_retry_after(headers))
    if code == 551 or (code == 100 and sub == 2018001):
        return RecipientUnavailable(reason, code="recipient_unavailable", provider_status=status)
    if code == 10 and sub in (2018065, 2018108):
        return OutsideWindow(reason, code="outside_messaging_window", provider_status=status)
    if code in CONFIGURATION:
        log.error("the Send API refused the page's credentials or permissions: %s", reason)
        return TransientDeliveryError(reason, code=label, provider_status=status)
    return PermanentDeliveryError(reason, code=label, provider_status=status)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: ``Retry-After``, else the longest ``estimated_time_to_regain_access`` (minutes)."""
    wait = parse_retry_after(headers.get("retry-after"))
    if wait is not None:
        return wait
    usage = headers.get("x-business-use-case-usage")
    if usage:
        try:
            data = json.loads(usage)
            minutes = [
                float(item.get("estimated_time_to_regain_access") or 0)
                for items in data.values()
                for item in items
                if isinstance(item, dict)
            ]
        except (ValueError, AttributeError, TypeError):
            return None
        if minutes and max(minutes) > 0:
            return max(minutes) * 60.0
    return None
