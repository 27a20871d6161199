"""The e-mail channel: neighbourhood inquiries with a reply button, preventive notices, and follow-ups.

Mails go out over SMTP (aiosmtplib) through a small pool of reused connections: one ``deliver`` call
sends its whole batch over one connection. What the SMTP server answers decides what happens next:

==========================  ===========================================================================
answer                      outcome
==========================  ===========================================================================
250 to DATA                 ``Receipt.sent``, ``provider_id`` = the ``Message-ID``
5xx to RCPT or DATA         ``Receipt.failed`` with :class:`PermanentDeliveryError` for that recipient
4xx to RCPT                 ``Receipt.failed`` with :class:`TransientDeliveryError` (the hub retries it)
4xx to MAIL/DATA, 421,      the server defers: the rest of the batch fails transiently; when nothing was
lost connection twice,      reported yet the whole batch raises :class:`TransientDeliveryError`
refused login/sender
==========================  ===========================================================================

Each mail is ``multipart/alternative`` (text + HTML) from the Jinja2 templates in ``templates/<lang>/``
(Dutch by default, English), with the action reference in the subject, the action's photo linked (or
embedded with ``inline_photos``), a reply button and RFC 8058 one-click unsubscribe. The reply button
is a signed, expiring, single-use link to a small form this channel serves itself (see
:mod:`plugins.email.forms`); the tip lands on the action through ``context.tips``.

For a non-urgent inquiry the END message is the follow-up: "this is what came of it". Time-critical
actions work too, with the free call-back number up front.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import mimetypes
import re
import secrets
import time
from pathlib import Path, PurePosixPath
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import aiosmtplib
import httpx

from hub.channel import AudienceKind, Channel, ChannelContext, Contact
from hub.errors import DeliveryError, PermanentDeliveryError, PluginError, TransientDeliveryError
from hub.models import (
    ActionType, ActionView, Delivery, MessageKind, Notice, PersonalMessage, Receipt, Recipient, Rendered, Urgency,
)

from .forms import ReplyForms
from .message import ADDRESS, InlinePhoto, compose, format_address
from .tokens import Signer
from .transport import SmtpPool

HERE = Path(__file__).parent
LANGUAGES = ("nl", "en")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
#: action types whose mails ask nothing back: no reply button
NO_REPLY_TYPES = frozenset({ActionType.PREVENTION, ActionType.CRISIS})
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")


class EmailChannel(Channel):
    name = "email"
    title = "E-mail over SMTP: neighbourhood inquiries with a reply button, preventive notices, follow-ups"
    settings_schema = json.loads((HERE / "settings.schema.json").read_text("utf-8"))
    credentials = ("host",)
    requirements = ("aiosmtplib",)
    audience = AudienceKind.PARTICIPANTS
    contact = Contact.EMAIL
    batch_size = 50
    concurrency = 4
    rate = None
    templates_dir = HERE / "templates"

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        s = self.settings
        self.log = context.logger
        self.security: str = s.get("security", "starttls")
        self.port: int = int(s.get("port") or DEFAULT_PORTS[self.security])
        self.from_address: str | None = s.get("from_address")
        self.from_name: str = s.get("from_name", "Burgernet")
        self.reply_ttl = float(s.get("reply_ttl_hours", 168)) * 3600
        self.max_photo_bytes = int(s.get("max_photo_bytes", 5 * 1024 * 1024))
        self.inline_photos = bool(s.get("inline_photos", False))
        self.max_inline_photo_bytes = int(s.get("max_inline_photo_bytes", 2 * 1024 * 1024))
        self.reply_signer = Signer(context.secret, "reply")
        self.unsubscribe_signer = Signer(context.secret, "unsubscribe")
        self.domain = _mail_domain(self.from_address, context.public_url)
        self._from_header = format_address(self.from_name, self.from_address or "")
        self.forms = ReplyForms(self)
        self._pool: SmtpPool | None = None
        self._http: httpx.AsyncClient | None = None
        self._photos: dict[str, tuple[float, InlinePhoto | None]] = {}
        self._photo_locks: dict[str, asyncio.Lock] = {}
        self._remembered: dict[str, tuple[int, str]] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        await self.forms.forget_expired()
        if self.context.sandbox:
            return
        if not self.settings.get("host") or not self.from_address:
            raise PluginError("the email channel needs 'host' and 'from_address'")
        self._pool = SmtpPool(self._smtp_client, int(self.settings.get("connections", 4)),
                              max_idle=float(self.settings.get("max_idle", 60)))
        if self.inline_photos:
            self._http = httpx.AsyncClient(timeout=10.0, follow_redirects=True)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _smtp_client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s["host"],
            port=self.port,
            username=s.get("username"),
            password=s.get("password"),
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            validate_certs=bool(s.get("validate_certs", True)),
            cert_bundle=s.get("ca_file"),
            timeout=float(s.get("timeout", 30)),
            # never socket.getfqdn(): a blocking DNS lookup on the event loop
            local_hostname=s.get("helo_name") or urlsplit(self.context.public_url).hostname or "localhost",
        )

    def describe(self) -> Mapping[str, Any]:
        s = self.settings
        return {
            "host": s.get("host"),
            "port": self.port,
            "security": self.security,
            "authenticated": bool(s.get("username")),
            "connections": int(s.get("connections", 4)),
            "from": self.from_address,
            "inline_photos": self.inline_photos,
            "smtp_sessions_opened": self._pool.connects if self._pool else 0,
        }

    def web_routes(self) -> Sequence[Any]:
        return self.forms.routes()

    # -- rendering ---------------------------------------------------------------------------
    def render(self, notice: Notice, recipient: Recipient) -> Rendered:
        return self._render(notice, recipient)

    def _render(self, notice: Notice, recipient: Recipient, *, photo_cid: str | None = None) -> Rendered:
        action = notice.action
        lang = recipient.language if recipient.language in LANGUAGES else "nl"
        reply_url = None
        if notice.kind is not MessageKind.END and action.type not in NO_REPLY_TYPES:
            reply_url = self.context.url(f"reply/{self.reply_token(action.id, recipient.participant_id, lang)}")
        unsubscribe_url = None
        if recipient.participant_id:
            unsubscribe_url = self.context.url(f"unsubscribe/{self.unsubscribe_token(recipient.participant_id, lang)}")
        photo = action.photos[0] if action.photos else None
        variables = dict(
            action=action,
            notice=notice,
            kind=notice.kind.value,
            ref=action.reference,
            time_critical=action.urgency is Urgency.TIME_CRITICAL,
            reply_url=reply_url,
            reply_days=max(1, round(self.reply_ttl / 86400)),
            unsubscribe_url=unsubscribe_url,
            photo=photo,
            photo_src=f"cid:{photo_cid}" if (photo and photo_cid) else (photo.url if photo else None),
        )
        templates = self.context.templates
        subject = " ".join(templates.render("subject.txt.j2", lang, **variables).split())
        message_id, in_reply_to = self._message_ids(notice, recipient)
        return Rendered(
            subject=subject,
            text=templates.render("mail.txt.j2", lang, **variables) + "\n",
            html=templates.render("mail.html.j2", lang, **variables) + "\n",
            extra={
                "message_id": message_id,
                "in_reply_to": in_reply_to,
                "reply_url": reply_url,
                "unsubscribe_url": unsubscribe_url,
                "photo_url": photo.url if photo else None,
                "language": lang,
            },
        )

    def reply_token(self, action_id: str, participant_id: str | None, language: str, *, now: float | None = None) -> str:
        now = time.time() if now is None else now
        return self.reply_signer.sign(
            {"a": action_id, "p": participant_id, "l": language, "e": int(now + self.reply_ttl),
             "n": secrets.token_urlsafe(9)}
        )

    def unsubscribe_token(self, participant_id: str, language: str) -> str:
        # no expiry: RFC 8058 links must keep working; unsubscribing twice is harmless
        return self.unsubscribe_signer.sign({"p": participant_id, "l": language})

    def _message_ids(self, notice: Notice, recipient: Recipient) -> tuple[str, str | None]:
        """Stable ids per action, kind and recipient: a retry keeps its id; updates thread under the start."""
        action_id = _UNSAFE_ID.sub("-", notice.action.id)
        who = hmac.new(self.context.secret, recipient.address.lower().encode(), hashlib.sha256).hexdigest()[:16]
        start = f"<{action_id}.start.{who}@{self.domain}>"
        if notice.kind is MessageKind.START:
            return start, None
        if notice.kind is MessageKind.UPDATE:
            return f"<{action_id}.update.{notice.action.version}.{who}@{self.domain}>", start
        return f"<{action_id}.end.{who}@{self.domain}>", start

    # -- delivery ----------------------------------------------------------------------------
    async def deliver(self, notice: Notice, deliveries: Sequence[Delivery]) -> Sequence[Receipt]:
        if self._pool is None:
            raise TransientDeliveryError("the email channel is not started", code="not_started")
        await self._remember(notice.action)
        photo = await self._inline_photo(notice.action) if self.inline_photos else None
        receipts: list[Receipt] = []
        jobs: list[Delivery] = []
        for d in deliveries:
            address = d.recipient.address.strip()
            if ADDRESS.match(address) and address.isascii():
                jobs.append(d)
            else:
                receipts.append(Receipt.failed(d, PermanentDeliveryError("not a usable e-mail address", code="invalid_address")))
        if not jobs:
            return receipts
        async with self._pool.connection() as conn:
            return receipts + await self._send_batch(conn, notice, jobs, photo, already_reported=bool(receipts))

    def _compose(self, notice: Notice, d: Delivery, photo: InlinePhoto | None) -> tuple[bytes, str]:
        rendered = self._render(notice, d.recipient, photo_cid=photo.cid if photo else None)
        data = compose(rendered, from_header=self._from_header, to=d.recipient.address.strip(),
                       reply_to=self.settings.get("reply_to"), photo=photo)
        return data, rendered.extra["message_id"].strip("<>")

    async def _send_batch(self, conn, notice: Notice, jobs: list[Delivery], photo: InlinePhoto | None, *,
                          already_reported: bool) -> list[Receipt]:
        receipts: list[Receipt] = []
        for i, d in enumerate(jobs):
            # composed just before sending, so the loop serves others while the server answers
            try:
                data, message_id = self._compose(notice, d, photo)
            except ValueError as e:
                receipts.append(Receipt.failed(d, PermanentDeliveryError(f"cannot compose the mail: {e}", code="invalid_message")))
                continue
            try:
                await conn.send(data, self.from_address, [d.recipient.address.strip()])
            except aiosmtplib.SMTPRecipientsRefused as e:
                refusal = e.recipients[0] if e.recipients else None
                code, text = (refusal.code, refusal.message) if refusal else (550, str(e))
                receipts.append(Receipt.failed(d, smtp_error(code, text, "RCPT")))
                continue
            except aiosmtplib.SMTPDataError as e:
                error = smtp_error(e.code, e.message, "DATA")
                if isinstance(error, PermanentDeliveryError):  # this message is refused (size, content)
                    receipts.append(Receipt.failed(d, error))
                    continue
                cause: Exception = e
            except aiosmtplib.SMTPResponseException as e:
                # MAIL FROM, AUTH, EHLO or greeting refused, or 421: the server refuses the session,
                # not this recipient. Never permanent for the participant; the operator must look.
                error = smtp_error(e.code, e.message, _stage(e))
                if isinstance(error, PermanentDeliveryError):
                    self.log.error("SMTP server refused the session: %s %s", e.code, e.message)
                    error = TransientDeliveryError(error.reason, code=error.code, provider_status=e.code)
                cause = e
            except (aiosmtplib.SMTPException, OSError) as e:
                error = TransientDeliveryError(f"SMTP server unreachable or connection lost: {e}", code="smtp_connection")
                cause = e
            except ValueError as e:  # an address aiosmtplib will not put on a command line
                receipts.append(Receipt.failed(d, PermanentDeliveryError(str(e), code="invalid_address")))
                continue
            else:
                receipts.append(Receipt.sent(d, provider_id=message_id))
                continue
            # the server defers or is gone: stop this batch, the hub retries the rest with backoff
            if not receipts and not already_reported:
                raise error from cause
            receipts.extend(Receipt.failed(rest, error) for rest in jobs[i:])
            break
        return receipts

    # -- personal messages --------------------------------------------------------------------
    personal = True

    async def send_personal(self, message: PersonalMessage) -> str | None:
        """A confirmation or sign-in link by mail, on the channel's SMTP connections."""
        if self._pool is None:
            raise TransientDeliveryError("the email channel is not started", code="not_started")
        address = message.address.strip()
        if not (ADDRESS.match(address) and address.isascii()):
            raise PermanentDeliveryError("not a usable e-mail address", code="invalid_address")
        message_id = f"<{message.purpose}.{secrets.token_hex(12)}@{self.domain}>"
        rendered = Rendered(text=message.text, subject=message.subject, html=message.html,
                            extra={"message_id": message_id, "language": message.language})
        try:
            data = compose(rendered, from_header=self._from_header, to=address)
        except ValueError as e:
            raise PermanentDeliveryError(f"cannot compose the mail: {e}", code="invalid_message") from e
        async with self._pool.connection() as conn:
            try:
                await conn.send(data, self.from_address, [address])
            except aiosmtplib.SMTPRecipientsRefused as e:
                refusal = e.recipients[0] if e.recipients else None
                raise smtp_error(refusal.code if refusal else 550, refusal.message if refusal else str(e), "RCPT") from e
            except aiosmtplib.SMTPResponseException as e:
                raise smtp_error(e.code, e.message, _stage(e)) from e
            except (aiosmtplib.SMTPException, OSError) as e:
                raise TransientDeliveryError("SMTP server unreachable or connection lost", code="smtp_connection") from e
        return message_id.strip("<>")

    async def _remember(self, action: ActionView) -> None:
        """Keep what the reply form shows about an action (title, reference) in the channel's records."""
        key = (action.version, action.status.value)
        if self._remembered.get(action.id) == key:
            return
        await self.context.records.put(
            f"action:{action.id}",
            {"ref": action.reference, "title": action.title, "type": action.type.value,
             "urgency": action.urgency.value, "status": action.status.value, "version": action.version,
             "callback": action.callback_number},
        )
        if len(self._remembered) > 4096:
            self._remembered.clear()
        self._remembered[action.id] = key

    async def _inline_photo(self, action: ActionView) -> InlinePhoto | None:
        """The action's first photo, fetched once (cached for 10 minutes; failures for 1) to embed in mails."""
        if not action.photos or self._http is None:
            return None
        url = action.photos[0].url
        cached = self._photos.get(url)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        lock = self._photo_locks.setdefault(url, asyncio.Lock())
        async with lock:
            cached = self._photos.get(url)
            if cached and cached[0] > time.monotonic():
                return cached[1]
            photo = await self._fetch_photo(url)
            ttl = 600 if photo else 60
            if len(self._photos) > 64:
                self._photos.clear()
            self._photos[url] = (time.monotonic() + ttl, photo)
            return photo

    async def _fetch_photo(self, url: str) -> InlinePhoto | None:
        assert self._http is not None
        if urlsplit(url).scheme not in ("http", "https"):
            return None
        try:
            async with self._http.stream("GET", url) as resp:
                if resp.status_code != 200:
                    self.log.warning("action photo not embedded: HTTP %s", resp.status_code)
                    return None
                ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if not ctype.startswith("image/"):
                    self.log.warning("action photo not embedded: content type %r", ctype)
                    return None
                data = bytearray()
                async for chunk in resp.aiter_bytes():
                    data += chunk
                    if len(data) > self.max_inline_photo_bytes:
                        self.log.warning("action photo not embedded: larger than %d bytes", self.max_inline_photo_bytes)
                        return None
        except httpx.HTTPError as e:
            self.log.warning("action photo not embedded: %s", e)
            return None
        maintype, _, subtype = ctype.partition("/")
        name = PurePosixPath(urlsplit(url).path).name or "foto"
        if "." not in name:
            name += mimetypes.guess_extension(ctype) or ""
        return InlinePhoto.of(bytes(data), maintype, subtype, f"photo.{secrets.token_hex(8)}@{self.domain}", name)


def smtp_error(code: int, text: str, stage: str) -> DeliveryError:
    """An SMTP reply as a typed error: 4xx transient, 5xx permanent (RFC 5321 4.2.1)."""
    reason = f"SMTP {stage} answered {code} {text}".strip()[:300]
    if 500 <= code < 600:
        return PermanentDeliveryError(reason, code=f"smtp_{code}", provider_status=code)
    return TransientDeliveryError(reason, code=f"smtp_{code}", provider_status=code)


def _stage(e: aiosmtplib.SMTPResponseException) -> str:
    if isinstance(e, aiosmtplib.SMTPSenderRefused):
        return "MAIL"
    if isinstance(e, aiosmtplib.SMTPAuthenticationError):
        return "AUTH"
    if isinstance(e, aiosmtplib.SMTPHeloError):
        return "EHLO"
    if isinstance(e, aiosmtplib.SMTPConnectResponseError):
        return "greeting"
    return "command"


def _mail_domain(from_address: str | None, public_url: str) -> str:
    if from_address and "@" in from_address:
        return from_address.rpartition("@")[2]
    return urlsplit(public_url).hostname or "burgerhub.invalid"
