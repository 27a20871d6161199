"""The pages behind the links in a mail: the reply form and the one-click unsubscribe. No login.

``GET reply/{token}`` shows an accessible form (a labelled text field, an optional photo, plain HTML
without scripts); ``POST reply/{token}`` stores the tip on the action through ``context.tips`` and marks
the token's nonce used in ``context.records`` (``used:<nonce>``), so a link works once. Expired, used
and forged links get a clear page with a 410, 409 or 403 status.

``GET unsubscribe/{token}`` asks for confirmation (mail scanners follow links, so a GET never
unsubscribes); ``POST unsubscribe/{token}`` is the RFC 8058 one-click endpoint: mail providers POST
``List-Unsubscribe=One-Click`` to it without cookies, and it switches e-mail off for the participant
through ``context.optouts``.

Every page is sent with ``Referrer-Policy: no-referrer`` (the token is in the URL), ``no-store`` and a
strict Content Security Policy.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hub.apidoc import HTML, documented
from hub.errors import Conflict, NotFound, TooLarge, ValidationError
from hub.inbound import form_params, read_body, read_multipart
from hub.photos import check_photo
from hub.webhooks import signed_in_url
from hub.text import clean_text
from hub.models import Tip

from .tokens import ExpiredToken, InvalidToken

if TYPE_CHECKING:
    from .channel import EmailChannel

MAX_TEXT_CHARS = 4000
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


class FormProblem(Exception):
    """Input the form cannot take; the form is shown again with the problem and the text kept."""

    def __init__(self, field: str, problem: str, *, status: int = 422, text: str = ""):
        super().__init__(problem)
        self.field, self.problem, self.status, self.text = field, problem, status, text


class ReplyForms:
    """Web routes of the e-mail channel."""

    def __init__(self, channel: "EmailChannel"):
        self.channel = channel
        self._inflight: set[str] = set()

    @property
    def context(self):
        return self.channel.context

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/reply/{token}", self.show_form),
            web.post("/reply/{token}", self.submit_form),
            web.get("/unsubscribe/{token}", self.show_unsubscribe),
            web.post("/unsubscribe/{token}", self.unsubscribe),
        ]

    async def forget_expired(self) -> int:
        """Drop the used-nonce records of links that have expired anyway."""
        now = time.time()
        dropped = 0
        for key, value in await self.context.records.scan("used:"):
            if float(value.get("e", 0)) < now:
                dropped += await self.context.records.delete(key)
        return dropped

    # -- pages -------------------------------------------------------------------------------
    def _page(self, status: int, template: str, language: str | None, **variables: Any) -> web.Response:
        lang = language if language in ("nl", "en") else "nl"
        html = self.context.templates.render(template, lang, lang=lang, **variables)
        return web.Response(status=status, text=html + "\n", content_type="text/html", charset="utf-8",
                            headers=_SECURITY_HEADERS)

    def _link_error(self, status: int, reason: str, language: str | None, info: dict[str, Any] | None = None) -> web.Response:
        callback = (info or {}).get("callback") or self.context.callback_number
        return self._page(status, "link_error.html.j2", language, reason=reason, callback=callback)

    @staticmethod
    def _browser_language(request: web.Request) -> str:
        accept = request.headers.get("Accept-Language", "").lower()
        return "en" if accept.startswith("en") else "nl"

    async def _reply_payload(self, request: web.Request) -> tuple[dict[str, Any] | None, web.Response | None]:
        try:
            payload = self.channel.reply_signer.verify(request.match_info["token"])
        except ExpiredToken as e:
            action_id = e.payload.get("a")
            info = await self._action_info(action_id) if isinstance(action_id, str) else None
            return None, self._link_error(410, "expired", e.payload.get("l"), info)
        except InvalidToken:
            return None, self._link_error(403, "invalid", self._browser_language(request))
        if not isinstance(payload.get("a"), str) or not isinstance(payload.get("n"), str):
            return None, self._link_error(403, "invalid", self._browser_language(request))
        if await self.context.records.get(f"used:{payload['n']}") or payload["n"] in self._inflight:
            return None, self._link_error(409, "used", payload.get("l"), await self._action_info(payload["a"]))
        return payload, None

    async def _action_info(self, action_id: str) -> dict[str, Any]:
        info = await self.context.records.get(f"action:{action_id}") or {}
        info.setdefault("ref", action_id[-6:].upper())
        info.setdefault("title", None)
        info.setdefault("callback", self.context.callback_number)
        return info

    @documented("The reply form behind a mail's link (HTML)", responses={s: HTML for s in (200, 403, 409, 410)})
    async def show_form(self, request: web.Request) -> web.Response:
        payload, error = await self._reply_payload(request)
        if error is not None:
            return error
        return await self._form(200, payload)

    async def _form(self, status: int, payload: dict[str, Any], problem: FormProblem | None = None) -> web.Response:
        info = await self._action_info(payload["a"])
        return self._page(
            status,
            "reply_form.html.j2",
            payload.get("l"),
            info=info,
            text=problem.text if problem else "",
            problem=problem.problem if problem else None,
            problem_field=problem.field if problem else None,
            photo_allowed=self.channel.max_photo_bytes > 0,
            max_photo_mb=round(self.channel.max_photo_bytes / 1048576, 1),
            max_text=MAX_TEXT_CHARS,
        )

    @documented("Send the reply form: a tip with an optional photo (HTML answer)",
                responses={s: HTML for s in (200, 400, 403, 409, 410, 413, 415, 422)},
                multipart={"type": "object", "properties": {"text": {"type": "string"},
                                                            "photo": {"type": "string", "format": "binary"}}})
    async def submit_form(self, request: web.Request) -> web.Response:
        payload, error = await self._reply_payload(request)
        if error is not None:
            return error
        nonce = payload["n"]
        self._inflight.add(nonce)
        try:
            try:
                text, photo, photo_type = await self._read_form(request)
            except FormProblem as problem:
                return await self._form(problem.status, payload, problem)
            tip = Tip(
                action_id=payload["a"],
                text=text,
                channel=self.channel.name,
                participant_id=payload.get("p"),
                photo=photo,
                photo_type=photo_type,
            )
            try:
                tip_id = await self.context.tips.submit(tip)
            except NotFound:
                return self._link_error(410, "unknown_action", payload.get("l"))
            except Conflict:
                return self._link_error(409, "closed", payload.get("l"), await self._action_info(payload["a"]))
            await self.context.records.put(
                f"used:{nonce}", {"e": payload.get("e", 0), "at": time.time(), "tip": tip_id}
            )
        finally:
            self._inflight.discard(nonce)
        info = await self._action_info(payload["a"])
        return self._page(200, "reply_thanks.html.j2", payload.get("l"), info=info, callback=info["callback"])

    async def _read_form(self, request: web.Request) -> tuple[str, bytes | None, str | None]:
        """The tip's text and optional photo; read through the hub's bounded readers and photo check."""
        text, photo, photo_type = "", None, None
        if request.content_type == "multipart/form-data":
            limits = {"text": MAX_TEXT_CHARS * 4, "photo": max(self.channel.max_photo_bytes, 1)}
            try:
                parts = await read_multipart(request, limits)
                text = parts["text"].text("text") if "text" in parts else ""
            except TooLarge as e:
                raise FormProblem(e.field, "too_long" if e.field == "text" else "too_large", status=413) from e
            except ValidationError as e:
                raise FormProblem("text", "bad_form", status=400) from e
            upload = parts.get("photo")
            if upload is not None and upload.filename and upload.data:
                if self.channel.max_photo_bytes <= 0:
                    raise FormProblem("photo", "not_allowed", text=_clean(text))
                try:
                    info = check_photo(upload.data, declared=upload.content_type, max_bytes=self.channel.max_photo_bytes)
                except TooLarge as e:
                    raise FormProblem("photo", "too_large", status=413, text=_clean(text)) from e
                except ValidationError as e:
                    raise FormProblem("photo", "not_an_image", status=415, text=_clean(text)) from e
                photo, photo_type = upload.data, info.type
        elif request.content_type == "application/x-www-form-urlencoded":
            try:
                fields = dict(form_params(await read_body(request, MAX_TEXT_CHARS * 12), request.content_type))
            except TooLarge as e:
                raise FormProblem("text", "too_long", status=413) from e
            except ValidationError as e:
                raise FormProblem("text", "bad_form", status=400) from e
            text = fields.get("text", "")
        else:
            raise FormProblem("text", "bad_form", status=415)
        text = clean_text(_clean(text))
        if len(text) > MAX_TEXT_CHARS:
            raise FormProblem("text", "too_long", text=text[:MAX_TEXT_CHARS])
        if not text and photo is None:
            raise FormProblem("text", "empty")
        return text, photo, photo_type

    @documented("Confirm unsubscribing from e-mail (HTML)", responses={s: HTML for s in (200, 403)})
    async def show_unsubscribe(self, request: web.Request) -> web.Response:
        try:
            payload = self.channel.unsubscribe_signer.verify(request.match_info["token"])
        except (InvalidToken, ExpiredToken):
            return self._link_error(403, "invalid", self._browser_language(request))
        return self._page(200, "unsubscribe.html.j2", payload.get("l"))

    @documented("One-click unsubscribe (RFC 8058)", responses={s: HTML for s in (200, 403)}, form=True, public=False)
    @signed_in_url
    async def unsubscribe(self, request: web.Request) -> web.Response:
        try:
            payload = self.channel.unsubscribe_signer.verify(request.match_info["token"])
        except (InvalidToken, ExpiredToken):
            return self._link_error(403, "invalid", self._browser_language(request))
        participant = payload.get("p")
        if not isinstance(participant, str) or not participant:
            return self._link_error(403, "invalid", self._browser_language(request))
        # RFC 8058: the body is "List-Unsubscribe=One-Click"; our own confirmation form sends the same
        known = await self.context.optouts.opt_out(participant)
        if not known:
            self.channel.log.info("one-click unsubscribe for a participant the hub does not know")
        return self._page(200, "unsubscribed.html.j2", payload.get("l"))


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").strip()
