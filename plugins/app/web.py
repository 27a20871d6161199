"""The app's HTTP routes, mounted by the hub under ``/v1/channels/app/``.

* ``GET config`` - the VAPID application server key and the grid the app subscribes with;
* ``POST subscriptions`` - store or update an install (JSON, see ``subscription.schema.json``);
* ``DELETE subscriptions`` - forget an install; the body names its endpoint: ``{"endpoint": ...}``;
* ``POST tips`` - a tip with an optional photo (``multipart/form-data``: ``action_id``, ``text``, ``photo``).

Bad input is answered with HTTP 400 and ``{"error": "validation_error", "field": ..., "reason": ...}``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
from aiohttp import web
from yarl import URL

from hub.errors import Conflict, NotFound, ValidationError
from hub.models import ReceiptStatus, Tip

from .installs import check_regions
from .push import check_client_keys
from .regions import CELL_PATTERN, CELLS_PER_DEGREE

if TYPE_CHECKING:
    from .channel import AppChannel

SUBSCRIPTION_SCHEMA = json.loads((Path(__file__).parent / "subscription.schema.json").read_text())
# Compiled once: jsonschema.validate() recompiles the schema on every call.
_SUBSCRIPTION = jsonschema.Draft202012Validator(SUBSCRIPTION_SCHEMA)

MAX_TIP_TEXT = 2000
_MAX_FIELD_BYTES = 16 * 1024
_ACTION_ID = jsonschema.Draft202012Validator({"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,100}$"})

#: photo types accepted with a tip, recognised by their first bytes (the declared type is not trusted)
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic")
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1"}


def photo_type(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "image/heic"
    return None


def schema_error(validator: jsonschema.Draft202012Validator, document: Any) -> ValidationError | None:
    """The document's schema errors as one :class:`ValidationError` naming the (first) bad field."""
    errors = sorted(validator.iter_errors(document), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return None
    found = [(_field(e), e.message) for e in errors]
    return ValidationError(found[0][0], found[0][1], errors=found)


def _field(error: jsonschema.ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [p for p in error.validator_value if p not in error.instance]
        path += missing[:1]
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        extra = [p for p in error.instance if p not in allowed]
        path += [str(p) for p in extra[:1]]
    return ".".join(path) or "(root)"


#: how long a confirmation waits for its ledger row: CONFIRM_TRIES x CONFIRM_PAUSE seconds
CONFIRM_TRIES, CONFIRM_PAUSE = 20, 0.1


def _bad(field: str, reason: str, status: int = 400) -> web.Response:
    return web.json_response(ValidationError(field, reason).as_dict(), status=status)


class AppRoutes:
    """Request handlers bound to one channel instance."""

    def __init__(self, channel: "AppChannel"):
        self.channel = channel

    def route_defs(self) -> list[web.RouteDef]:
        return [
            web.get("/config", self.config),
            web.post("/subscriptions", self.subscribe),
            web.delete("/subscriptions", self.unsubscribe),
            web.post("/tips", self.tip),
            web.post("/received", self.received),
        ]

    async def config(self, request: web.Request) -> web.Response:
        signer = self.channel.signer
        return web.json_response(
            {
                "vapid_public_key": signer.public_key if signer else None,
                "grid": {
                    "cell_degrees": 1 / CELLS_PER_DEGREE,
                    "pattern": CELL_PATTERN,
                    "example": "r:52.0:5.1",
                    "max_regions": self.channel.max_regions,
                },
                "languages": ["nl", "en"],
                "tips": {"url": self.channel.context.url("tips"), "max_photo_bytes": self.channel.max_photo_bytes,
                         "photo_types": list(PHOTO_TYPES)},
            }
        )

    async def _json(self, request: web.Request) -> Any:
        try:
            return await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise web.HTTPBadRequest(
                text=json.dumps(ValidationError("(root)", "body is not JSON").as_dict()), content_type="application/json"
            ) from None

    async def subscribe(self, request: web.Request) -> web.Response:
        document = await self._json(request)
        error = schema_error(_SUBSCRIPTION, document)
        if error is not None:
            return web.json_response(error.as_dict(), status=400)
        endpoint = document["endpoint"]
        reason = self.channel.endpoint_problem(endpoint)
        if reason:
            return _bad("endpoint", reason)
        bad_key = check_client_keys(document["keys"]["p256dh"], document["keys"]["auth"])
        if bad_key == "p256dh":
            return _bad("keys.p256dh", "not an uncompressed P-256 public key in base64url")
        if bad_key == "auth":
            return _bad("keys.auth", "not a 16-byte authentication secret in base64url")
        problem = check_regions(document["regions"], self.channel.max_regions)
        if problem:
            return _bad(f"regions.{problem[0]}", problem[1])
        participant_id = None
        auth = request.headers.get("Authorization", "")
        if auth:
            # a participant links the install to themself with their personal token ("app first")
            identify = self.channel.context.identify
            participant_id = await identify(auth.removeprefix("Bearer ").strip()) if identify else None
            if participant_id is None:
                return _bad("Authorization", "not a participant's token", status=401)
        install_id, created = await self.channel.installs.save(
            endpoint, document["keys"], document["regions"], document.get("language", "nl"), participant_id
        )
        return web.json_response(
            {"id": install_id, "regions": sorted(set(document["regions"]))}, status=201 if created else 200
        )

    async def received(self, request: web.Request) -> web.Response:
        """The app confirms a message reached the device: ``{"install", "action", "kind", "version"}``
        as in the payload. The install id (the subscription's answer) is the app's secret."""
        document = await self._json(request)
        if not isinstance(document, dict):
            return _bad("(root)", "must be an object")
        for key, kind in (("install", str), ("action", str), ("kind", str), ("version", int)):
            if not isinstance(document.get(key), kind) or isinstance(document.get(key), bool):
                return _bad(key, "is required" if key not in document else f"must be a {kind.__name__}")
        if await self.channel.installs.get(document["install"]) is None:
            return web.json_response({"error": "not_found"}, status=404)
        provider_id = f"{document['action']}/{document['kind']}/{document['version']}/{document['install']}"
        # the push may reach the phone before the hub has written that it was sent (outcomes are written
        # in groups within milliseconds): wait a moment for the ledger row rather than lose the confirmation
        for _ in range(CONFIRM_TRIES):
            if await self.channel.context.receipts.update(provider_id, ReceiptStatus.DELIVERED, "confirmed by the app"):
                return web.json_response({"confirmed": True})
            await asyncio.sleep(CONFIRM_PAUSE)
        return web.json_response({"confirmed": False}, status=404)

    async def unsubscribe(self, request: web.Request) -> web.Response:
        document = await self._json(request)
        if not isinstance(document, dict) or not isinstance(document.get("endpoint"), str):
            return _bad("endpoint", "the subscription's endpoint is required")
        removed = await self.channel.installs.remove(self.channel.installs.install_id(document["endpoint"]))
        if not removed:
            return web.json_response({"error": "not_found"}, status=404)
        return web.Response(status=204)

    async def tip(self, request: web.Request) -> web.Response:
        fields: dict[str, str] = {}
        photo: bytes | None = None
        if request.content_type == "application/x-www-form-urlencoded":  # a tip without a photo
            if request.content_length is not None and request.content_length > 2 * _MAX_FIELD_BYTES:
                return _bad("text", "too long", status=413)
            form = await request.post()
            unknown = [k for k in form if k not in ("action_id", "text")]
            if unknown:
                return _bad(unknown[0], "unknown field")
            fields = {k: str(v) for k, v in form.items()}
            return await self._submit(fields, None)
        if not request.content_type.startswith("multipart/"):
            return _bad("(root)", "send multipart/form-data with action_id, text and photo", status=415)
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            name = getattr(part, "name", None)  # a nested multipart has no name: refused below
            if name in ("action_id", "text"):
                raw = await _read_limited(part, _MAX_FIELD_BYTES)
                if raw is None:
                    return _bad(name, "too long")
                fields[name] = raw.decode(part.get_charset(default="utf-8"), errors="replace")
            elif name == "photo":
                photo = await _read_limited(part, self.channel.max_photo_bytes)
                if photo is None:
                    return _bad("photo", f"larger than {self.channel.max_photo_bytes} bytes", status=413)
            else:
                return _bad(str(name), "unknown field")
        return await self._submit(fields, photo)

    async def _submit(self, fields: dict[str, str], photo: bytes | None) -> web.Response:
        action_id = fields.get("action_id", "").strip()
        text = fields.get("text", "").strip()
        if not _ACTION_ID.is_valid(action_id):
            return _bad("action_id", "an action id is required")
        if len(text) > MAX_TIP_TEXT:
            return _bad("text", f"longer than {MAX_TIP_TEXT} characters")
        kind = None
        if photo:
            kind = photo_type(photo)
            if kind is None:
                return _bad("photo", "not a JPEG, PNG, WebP or HEIC image", status=415)
        elif not text:
            return _bad("text", "a tip needs a text or a photo")
        tip = Tip(action_id=action_id, text=text, channel=self.channel.name, photo=photo or None, photo_type=kind)
        try:
            tip_id = await self.channel.context.tips.submit(tip)
        except NotFound:
            return web.json_response({"error": "not_found", "field": "action_id"}, status=404)
        except Conflict as e:
            return web.json_response({"error": "conflict", "reason": str(e)}, status=409)
        return web.json_response({"id": tip_id}, status=201)


async def _read_limited(part: Any, limit: int) -> bytes | None:
    """A multipart part's body, or ``None`` once it grows past ``limit`` (stops reading there)."""
    chunks, size = [], 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def endpoint_problem(endpoint: str, allowed_hosts: list[str], allow_insecure: bool) -> str | None:
    """Why the hub will not POST to this push endpoint, or ``None``."""
    try:
        url = URL(endpoint)
    except ValueError:
        return "not a URL"
    if url.scheme not in ("https", "http") or not url.host:
        return "not an http(s) URL"
    if url.scheme == "http" and not allow_insecure:
        return "push endpoints must use https"
    if url.user or url.password:
        return "credentials in the URL are not allowed"
    host = url.host.lower().rstrip(".")
    if not any(host == h or host.endswith("." + h) for h in (h.lower() for h in allowed_hosts)):
        return f"push service {host!r} is not allowed"
    return None
