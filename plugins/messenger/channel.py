"""The Facebook Messenger channel: people subscribe to an area in a conversation with the page.

The channel owns its audience: a person sends the page a postcode or a place name, the webhook
(:mod:`plugins.messenger.webhook`) stores a circle around it for their page-scoped id (PSID), and
:meth:`MessengerChannel.resolve_audience` returns every subscriber whose circle meets an action's area.
Alerts go out through the Send API (:mod:`plugins.messenger.sendapi`) with httpx.

**The 24-hour window.** Messenger allows a page to send standard messages only within 24 hours of the
person's last message to it. The message tags that reach beyond it (``CONFIRMED_EVENT_UPDATE``,
``POST_PURCHASE_UPDATE``, ``ACCOUNT_UPDATE``) are limited to events the person registered for,
purchases and account changes; a police alert about a neighbourhood is none of those, and misuse gets
a page restricted. So the channel does not use tags: a subscriber whose window has closed gets a
permanent ``outside_messaging_window`` receipt instead of a message, and the confirmation tells people
that writing to the page (``status`` will do) keeps alerts coming. Alerts within the window are sent
as ``messaging_type: UPDATE``; replies in the conversation as ``RESPONSE``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import httpx

from hub.channel import AudienceKind, Channel, ChannelContext
from hub.errors import PermanentDeliveryError, PluginError, TransientDeliveryError, ValidationError
from hub.models import ActionType, ActionView, Delivery, Notice, Receipt, Recipient, Rendered
from hub.photos import check_photo

from .areas import circle_meets_area
from .sendapi import MAX_TEXT, RecipientUnavailable, SendApi
from .webhook import Conversation

HERE = Path(__file__).parent
LANGUAGES = ("nl", "en")
WINDOW_S = 24 * 3600


class MessengerChannel(Channel):
    name = "messenger"
    title = "Facebook Messenger: area subscriptions in a conversation with the page (Send API)"
    settings_schema = json.loads((HERE / "settings.schema.json").read_text("utf-8"))
    credentials = ("page_access_token",)
    requirements = ("httpx",)
    audience = AudienceKind.OWN
    contact = None
    batch_size = 1  # the Send API takes one recipient per call
    concurrency = 8
    rate = 300.0  # Meta's documented Send API limit per page, calls per second
    templates_dir = HERE / "templates"

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        self.log = context.logger
        self.window_s = min(float(self.settings.get("window_hours", 24)), 24.0) * 3600
        self.conversation = Conversation(self)
        self.api: SendApi | None = None
        self._http: httpx.AsyncClient | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        timeout = float(s.get("timeout", 10))
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            headers={"User-Agent": "burgerhub-messenger"},
        )
        if self.context.sandbox:
            return
        token = s.get("page_access_token")
        if not token:
            raise PluginError("the messenger channel needs 'page_access_token'")
        if not s.get("app_secret") or not s.get("verify_token"):
            raise PluginError("the messenger channel needs 'app_secret' and 'verify_token' for its webhook")
        self.api = SendApi(self._http, base_url=s.get("base_url", "https://graph.facebook.com"),
                           api_version=s.get("api_version", "v25.0"), page_token=token,
                           app_secret=s.get("app_secret"))

    async def close(self) -> None:
        await self.conversation.close()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self.api = None

    def describe(self) -> Mapping[str, Any]:
        s = self.settings
        return {
            "api": f"{s.get('base_url', 'https://graph.facebook.com')}/{s.get('api_version', 'v25.0')}",
            "webhook": self.context.url("webhook"),
            "webhook_ready": bool(s.get("app_secret") and s.get("verify_token")),
            "window_hours": self.window_s / 3600,
        }

    def web_routes(self) -> Sequence[Any]:
        return self.conversation.routes()

    # -- audience ----------------------------------------------------------------------------
    async def resolve_audience(self, action: ActionView) -> Sequence[Recipient]:
        recipients = []
        for _, sub in await self.context.records.scan("sub:"):
            try:
                lat, lon, radius = float(sub["lat"]), float(sub["lon"]), float(sub["radius_m"])
            except (KeyError, TypeError, ValueError):
                continue
            if circle_meets_area(lat, lon, radius, action.area):
                recipients.append(Recipient(address=str(sub["psid"]), language=sub.get("language", "nl"),
                                            meta={"place": sub.get("place")}))
        return recipients

    # -- messages ----------------------------------------------------------------------------
    def render(self, notice: Notice, recipient: Recipient) -> Rendered:
        lang = recipient.language if recipient.language in LANGUAGES else "nl"
        action = notice.action
        text = self.context.templates.render(
            "alert.txt.j2",
            lang,
            action=action,
            kind=notice.kind.value,
            ref=action.reference,
            # the network tells Messenger subscribers to call 112 with what they see
            core=self.context.templates.text(notice, lang, variant="long", call_112=True),
            photo=action.photos[0] if action.photos else None,
            ask_reply=action.type not in (ActionType.PREVENTION, ActionType.CRISIS),
        )
        if len(text) > MAX_TEXT:
            text = text[: MAX_TEXT - 1].rstrip() + "…"
        return Rendered(text=text, extra={"messaging_type": "UPDATE"})

    def render_reply(self, template: str, language: str, **variables: Any) -> str:
        variables.setdefault("sub", None)
        variables.setdefault("query", "")
        return self.context.templates.render(template, language if language in LANGUAGES else "nl",
                                             window_hours=round(self.window_s / 3600), **variables)

    async def deliver(self, notice: Notice, deliveries: Sequence[Delivery]) -> Sequence[Receipt]:
        if self.api is None:
            raise TransientDeliveryError("the messenger channel is not started", code="not_started")
        receipts: list[Receipt] = []
        now = time.time()
        for i, d in enumerate(deliveries):
            psid = d.recipient.address
            sub = await self.context.records.get(f"sub:{psid}")
            if sub is None:
                receipts.append(Receipt.failed(d, PermanentDeliveryError("unsubscribed from Messenger", code="unsubscribed")))
                continue
            if now - float(sub.get("last_interaction", 0)) > self.window_s:
                receipts.append(Receipt.failed(d, PermanentDeliveryError(
                    "last message from this person is older than Messenger's 24-hour window",
                    code="outside_messaging_window")))
                continue
            try:
                message_id = await self.api.send_text(psid, self.render(notice, d.recipient).text, messaging_type="UPDATE")
            except PermanentDeliveryError as e:
                if isinstance(e, RecipientUnavailable):
                    await self.context.records.delete(f"sub:{psid}")
                    self.log.info("messenger subscriber removed: %s", e.reason)
                receipts.append(Receipt.failed(d, e))
                continue
            except TransientDeliveryError as e:
                if not receipts:
                    raise
                receipts.extend(Receipt.failed(rest, e) for rest in deliveries[i:])
                break
            receipts.append(Receipt.sent(d, provider_id=message_id))
        return receipts

    async def fetch_image(self, url: str, limit: int) -> tuple[bytes, str] | None:
        """An image attachment from a webhook event (Meta's CDN), at most ``limit`` bytes."""
        if self._http is None:
            return None
        try:
            async with self._http.stream("GET", url) as resp:
                ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if resp.status_code != 200 or not ctype.startswith("image/"):
                    return None
                data = bytearray()
                async for chunk in resp.aiter_bytes():
                    data += chunk
                    if len(data) > limit:
                        return None
        except httpx.HTTPError as e:
            self.log.info("messenger attachment not fetched: %s", e)
            return None
        try:
            info = check_photo(bytes(data), declared=ctype, max_bytes=limit)
        except ValidationError as e:
            self.log.info("messenger attachment is not a photo the hub takes: %s", e.reason)
            return None
        return bytes(data), info.type

