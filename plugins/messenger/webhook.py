"""The Messenger webhook: Meta's verification handshake, signed event delivery, and the conversation.

``GET webhook`` answers Meta's subscription check: ``hub.mode=subscribe`` with the configured
``hub.verify_token`` echoes ``hub.challenge``; anything else is a 403.

``POST webhook`` checks ``X-Hub-Signature-256`` (``sha256=`` + HMAC-SHA256 of the *raw* body with the
app secret, compared in constant time) before anything is parsed: an unsigned or wrongly signed call
gets a 403 and changes nothing. Then each ``messaging`` event is handled:

* a message that is an area (``3511 AB``, ``Utrecht 5 km``) subscribes the sender's PSID to a circle
  around it, stored as ``sub:<psid>`` = ``{psid, lat, lon, radius_m, language, last_interaction, ...}``;
* ``stop`` unsubscribes, ``status`` tells the current area, ``help`` explains;
* any other message after an alert becomes a tip on the action that reached this person (image
  attachments are fetched and attached);
* ``delivery`` events mark sent alerts delivered (``context.receipts``).

Every message refreshes ``last_interaction``: Messenger allows standard messages only within 24 hours
of it. Replies go out through the Send API in background tasks, because Meta wants the webhook
answered quickly; :meth:`Conversation.idle` waits for them (tests, shutdown).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import TYPE_CHECKING, Any

import httpx
from aiohttp import web

from hub.errors import DeliveryError, HubError
from hub.inbound import parse_json
from hub.apidoc import ERROR, TEXT, documented
from hub.webhooks import signed
from hub.models import ReceiptStatus, Tip

from .conversation import Intent, IntentKind, detect_language, parse

if TYPE_CHECKING:
    from .channel import MessengerChannel

MAX_TIP_PHOTO = 5 * 1024 * 1024


def signature_ok(app_secret: str | None, body: bytes, header: str | None) -> bool:
    """Meta's ``X-Hub-Signature-256``: ``sha256=<hex HMAC-SHA256(app secret, raw body)>``."""
    if not app_secret or not header or not header.startswith("sha256=") or not header.isascii():
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[len("sha256="):].strip().lower().encode(), expected.encode())


class Conversation:
    """The webhook routes and what the channel says back."""

    def __init__(self, channel: "MessengerChannel"):
        self.channel = channel
        self._tasks: set[asyncio.Task] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def context(self):
        return self.channel.context

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/webhook", self.verify), web.post("/webhook", self.receive)]

    @documented("Meta's subscription check (hub.mode, hub.verify_token, hub.challenge)",
                responses={200: TEXT, 403: TEXT},
                query={"hub.mode": {"type": "string"}, "hub.verify_token": {"type": "string"},
                       "hub.challenge": {"type": "string"}})
    async def verify(self, request: web.Request) -> web.Response:
        q = request.query
        token = self.channel.settings.get("verify_token")
        given = q.get("hub.verify_token", "")
        if (
            q.get("hub.mode") == "subscribe"
            and token
            and given.isascii()
            and hmac.compare_digest(given.encode(), str(token).encode())
            and "hub.challenge" in q
        ):
            return web.Response(text=q["hub.challenge"], content_type="text/plain")
        return web.Response(status=403, text="forbidden")

    def _signed(self, request: web.Request, body: bytes) -> bool:
        if signature_ok(self.channel.settings.get("app_secret"), body, request.headers.get("X-Hub-Signature-256")):
            return True
        self.channel.log.warning("Messenger webhook call with a missing or wrong signature refused")
        return False

    @documented("Messenger events from Meta (signed with X-Hub-Signature-256)",
                responses={200: TEXT, 400: ERROR, 403: ERROR, 404: TEXT, 413: ERROR},
                json_body={"type": "object"}, public=False)
    @signed(_signed)
    async def receive(self, request: web.Request, body: bytes) -> web.Response:
        payload = parse_json(body)
        if not isinstance(payload, dict) or payload.get("object") != "page":
            return web.Response(status=404, text="not a page event")
        page_id = self.channel.settings.get("page_id")
        for entry in payload.get("entry") or ():
            if not isinstance(entry, dict) or (page_id and str(entry.get("id")) != str(page_id)):
                continue
            for event in entry.get("messaging") or ():
                if isinstance(event, dict):
                    await self.handle(event)
        return web.Response(text="EVENT_RECEIVED")

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until every reply scheduled so far has been sent (or failed)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def close(self) -> None:
        await self.idle(timeout=5.0)
        for task in self._tasks:
            task.cancel()

    # -- events ------------------------------------------------------------------------------
    async def handle(self, event: dict[str, Any]) -> None:
        sender = str((event.get("sender") or {}).get("id") or "")
        if "delivery" in event:
            await self._delivered(event["delivery"])
            return
        message, postback = event.get("message"), event.get("postback")
        if not sender or (message is None and postback is None):
            return  # reads, reactions without text, standby...
        if isinstance(message, dict) and message.get("is_echo"):
            return  # our own message, echoed back
        text = ""
        attachments: list[dict] = []
        if isinstance(message, dict):
            quick = message.get("quick_reply") or {}
            text = str(quick.get("payload") or message.get("text") or "")
            attachments = [a for a in message.get("attachments") or () if isinstance(a, dict)]
        elif isinstance(postback, dict):
            text = str(postback.get("payload") or postback.get("title") or "")
            if text.upper() == "GET_STARTED":
                text = "help"
        now = time.time()
        ts = event.get("timestamp")
        seen = min(now, ts / 1000) if isinstance(ts, (int, float)) and ts > 0 else now
        lock = self._locks.setdefault(sender, asyncio.Lock())
        async with lock:
            await self._converse(sender, text, attachments, seen)
        if not lock.locked() and len(self._locks) > 1024:
            self._locks.pop(sender, None)

    async def _converse(self, psid: str, text: str, attachments: list[dict], seen: float) -> None:
        records = self.context.records
        key = f"sub:{psid}"
        record = await records.get(key)
        language = detect_language(text, record.get("language") if record else None)
        s = self.channel.settings
        intent = parse(text, default_radius_m=float(s.get("default_radius_m", 2000)),
                       max_radius_m=float(s.get("max_radius_m", 25000)))
        if intent.kind is IntentKind.UNSUBSCRIBE:
            await records.delete(key)
            self.reply(psid, "reply_unsubscribed.txt.j2" if record else "reply_not_subscribed.txt.j2", language)
            return
        if intent.kind is IntentKind.SUBSCRIBE:
            record = self._subscription(psid, intent, language, seen, record)
            await records.put(key, record)
            self.reply(psid, "reply_subscribed.txt.j2", language, sub=record)
            return
        if record is not None:
            record = {**record, "language": language, "last_interaction": max(seen, float(record.get("last_interaction", 0)))}
            await records.put(key, record)
        if intent.kind is IntentKind.STATUS:
            self.reply(psid, "reply_status.txt.j2", language, sub=record)
        elif intent.kind is IntentKind.HELP:
            self.reply(psid, "reply_help.txt.j2", language, sub=record)
        elif intent.kind is IntentKind.UNKNOWN_PLACE:
            self.reply(psid, "reply_unknown_place.txt.j2", language, query=intent.query)
        else:
            await self._tip_or_help(psid, intent, attachments, language, record)

    def _subscription(self, psid: str, intent: Intent, language: str, seen: float, old: dict | None) -> dict:
        place = intent.place
        assert place is not None and intent.radius_m is not None
        return {
            "psid": psid,
            "lat": place.lat,
            "lon": place.lon,
            "radius_m": intent.radius_m,
            "place": place.name,
            "province": place.province,
            "approximate": place.approximate,
            "language": language,
            "last_interaction": seen,
            "subscribed_at": (old or {}).get("subscribed_at", seen),
        }

    async def _tip_or_help(self, psid: str, intent: Intent, attachments: list[dict], language: str,
                           record: dict | None) -> None:
        action_id = await self.context.tips.action_for(psid)
        if action_id is None or not (intent.query or attachments):
            self.reply(psid, "reply_help.txt.j2", language, sub=record)
            return
        photo, photo_type, links = await self._attachments(attachments)
        text = "\n".join(filter(None, [intent.query, *links]))
        try:
            await self.context.tips.submit(Tip(action_id=action_id, text=text, channel=self.channel.name,
                                               sender=psid, photo=photo, photo_type=photo_type))
        except HubError as e:
            self.channel.log.info("tip over Messenger not stored: %s", e)
            self.reply(psid, "reply_help.txt.j2", language, sub=record)
            return
        self.reply(psid, "reply_tip.txt.j2", language)

    async def _attachments(self, attachments: list[dict]) -> tuple[bytes | None, str | None, list[str]]:
        """The first image as bytes (from Meta's CDN); every other attachment as its URL."""
        photo = photo_type = None
        links: list[str] = []
        for a in attachments:
            url = str((a.get("payload") or {}).get("url") or "")
            if not url.startswith(("https://", "http://")):
                continue
            if photo is None and a.get("type") == "image":
                fetched = await self.channel.fetch_image(url, MAX_TIP_PHOTO)
                if fetched is not None:
                    photo, photo_type = fetched
                    continue
            links.append(url)
        return photo, photo_type, links

    async def _delivered(self, delivery: Any) -> None:
        if not isinstance(delivery, dict):
            return
        for mid in delivery.get("mids") or ():
            await self.context.receipts.update(str(mid), ReceiptStatus.DELIVERED)

    # -- replies -----------------------------------------------------------------------------
    def reply(self, psid: str, template: str, language: str, **variables: Any) -> None:
        text = self.channel.render_reply(template, language, **variables)
        task = asyncio.create_task(self._send_reply(psid, text))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_reply(self, psid: str, text: str) -> None:
        api = self.channel.api
        if api is None:
            self.channel.log.info("Messenger reply not sent: no page access token (sandbox)")
            return
        try:
            await api.send_text(psid, text, messaging_type="RESPONSE")
        except DeliveryError as e:
            self.channel.log.warning("Messenger reply failed: %s", e)
        except (httpx.HTTPError, OSError) as e:
            self.channel.log.warning("Messenger reply failed: %s", e)
