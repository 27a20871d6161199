"""The app's HTTP routes, mounted by the hub under ``/v1/channels/app/``.

* ``GET config`` - the VAPID application server key and the grid the app subscribes with;
* ``POST subscriptions`` - store or update an install (JSON, see ``subscription.schema.json``);
* ``DELETE subscriptions`` - forget an install; the body names its endpoint: ``{"endpoint": ...}``;
* ``POST tips`` - a tip with an optional photo (``multipart/form-data``: ``action_id``, ``text``, ``photo``);
* ``GET current?regions=<cells>&language=nl`` - what pushes to an install of those cells would have
  brought: the running actions and the closings of lately ended ones (see :mod:`plugins.app.current`).

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

from hub.apidoc import ERROR, documented
from hub.errors import Conflict, NotFound, ValidationError
from hub.inbound import form_params, read_body, read_json, read_multipart
from hub.models import ReceiptStatus, Tip
from hub.photos import HEIC, JPEG, PNG, WEBP, check_photo

from .installs import check_regions
from .push import check_client_keys
from .regions import CELL_PATTERN, CELLS_PER_DEGREE, parse_cell

if TYPE_CHECKING:
    from .channel import AppChannel

SUBSCRIPTION_SCHEMA = json.loads((Path(__file__).parent / "subscription.schema.json").read_text())
# Compiled once: jsonschema.validate() recompiles the schema on every call.
_SUBSCRIPTION = jsonschema.Draft202012Validator(SUBSCRIPTION_SCHEMA)

MAX_TIP_TEXT = 2000
_MAX_FIELD_BYTES = 16 * 1024
_ACTION_ID = jsonschema.Draft202012Validator({"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,100}$"})

#: photo types accepted with a tip, recognised by their bytes (hub.photos; the declared type is not trusted)
PHOTO_TYPES = (JPEG, PNG, WEBP, HEIC)
_MAX_SUBSCRIPTION_BYTES = 64 * 1024
_CURRENT = {"type": "object", "required": ["actions"],
            "properties": {"actions": {"type": "array", "items": {"type": "object"}}}}
_INSTALL = {"type": "object", "required": ["id", "regions"],
            "properties": {"id": {"type": "string"}, "regions": {"type": "array", "items": {"type": "string"}}}}


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
            web.get("/current", self.current),
        ]

    @documented("What the app needs: the VAPID key, the grid, the tip URL and limits", responses={200: {"type": "object"}})
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

    @documented("The app payloads that pushes to an install of these cells would have brought: running actions "
                "(kind start, current version) and the closings of those ended within the hour",
                responses={200: _CURRENT, 400: ERROR},
                query={"regions": {"type": "string", "description": "cell names, comma-separated: r:52.0:5.1,r:52.0:5.2"},
                       "language": {"type": "string", "enum": ["nl", "en"]}})
    async def current(self, request: web.Request) -> web.Response:
        """What a device without a push service (or installed after an action started) asks for itself."""
        unknown = [k for k in request.query if k not in ("regions", "language")]
        if unknown:
            return _bad(unknown[0], "unknown parameter")
        language = request.query.get("language", "nl")
        if language not in ("nl", "en"):
            return _bad("language", "one of nl, en")
        names = [c.strip() for value in request.query.getall("regions", []) for c in value.split(",") if c.strip()]
        if not names:
            return _bad("regions", "the cells to ask for are required: regions=r:52.0:5.1,r:52.0:5.2")
        problem = check_regions(names, self.channel.max_regions)
        if problem:
            return _bad(f"regions.{problem[0]}", problem[1])
        body = await self.channel.current.answer(sorted({parse_cell(c) for c in names}), language)
        return web.Response(body=body, content_type="application/json", headers={"Cache-Control": "no-store"})

    async def _json(self, request: web.Request) -> Any:
        return await read_json(request, limit=_MAX_SUBSCRIPTION_BYTES)

    @documented("Store or update an install's push subscription and regions",
                responses={200: _INSTALL, 201: _INSTALL, 400: ERROR, 413: ERROR, 415: ERROR},
                json_body=SUBSCRIPTION_SCHEMA)
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

    @documented("The app confirms that a message reached the device",
                responses={200: {"type": "object"}, 400: ERROR, 404: {"type": "object"}, 413: ERROR, 415: ERROR},
                json_body={"type": "object", "required": ["install", "action", "kind", "version"],
                           "properties": {"install": {"type": "string"}, "action": {"type": "string"},
                                          "kind": {"type": "string"}, "version": {"type": "integer"}}})
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
            raise NotFound("no such install")
        provider_id = f"{document['action']}/{document['kind']}/{document['version']}/{document['install']}"
        # the push may reach the phone before the hub has written that it was sent (outcomes are written
        # in groups within milliseconds): wait a moment for the ledger row rather than lose the confirmation
        for _ in range(CONFIRM_TRIES):
            if await self.channel.context.receipts.update(provider_id, ReceiptStatus.DELIVERED, "confirmed by the app"):
                return web.json_response({"confirmed": True})
            await asyncio.sleep(CONFIRM_PAUSE)
        return web.json_response({"confirmed": False}, status=404)

    @documented("Forget an install (the body names its endpoint)",
                responses={204: None, 400: ERROR, 404: ERROR, 413: ERROR, 415: ERROR},
                json_body={"type": "object", "required": ["endpoint"], "properties": {"endpoint": {"type": "string"}}})
    async def unsubscribe(self, request: web.Request) -> web.Response:
        document = await self._json(request)
        if not isinstance(document, dict) or not isinstance(document.get("endpoint"), str):
            return _bad("endpoint", "the subscription's endpoint is required")
        removed = await self.channel.installs.remove(self.channel.installs.install_id(document["endpoint"]))
        if not removed:
            raise NotFound("no such subscription")
        return web.Response(status=204)

    @documented("An anonymous tip with an optional photo (multipart, or a form without a photo)",
                responses={201: {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
                           400: ERROR, 404: ERROR, 409: ERROR, 413: ERROR, 415: ERROR, 422: ERROR},
                multipart={"type": "object", "required": ["action_id"], "properties": {
                    "action_id": {"type": "string"}, "text": {"type": "string"},
                    "photo": {"type": "string", "format": "binary"}}})
    async def tip(self, request: web.Request) -> web.Response:
        photo: tuple[bytes, str] | None = None
        if request.content_type == "application/x-www-form-urlencoded":  # a tip without a photo
            raw = await read_body(request, 2 * _MAX_FIELD_BYTES, field="text")
            form = form_params(raw, request.content_type)
            unknown = [k for k, _ in form if k not in ("action_id", "text")]
            if unknown:
                return _bad(unknown[0], "unknown field")
            return await self._submit(dict(form), None)
        if not request.content_type.startswith("multipart/"):
            return _bad("(root)", "send multipart/form-data with action_id, text and photo", status=415)
        limits = {"action_id": _MAX_FIELD_BYTES, "text": _MAX_FIELD_BYTES, "photo": self.channel.max_photo_bytes}
        parts = await read_multipart(request, limits)
        fields = {name: parts[name].text(name) for name in ("action_id", "text") if name in parts}
        if "photo" in parts and parts["photo"].data:
            photo = (parts["photo"].data, parts["photo"].content_type)
        return await self._submit(fields, photo)

    async def _submit(self, fields: dict[str, str], photo: tuple[bytes, str] | None) -> web.Response:
        action_id = fields.get("action_id", "").strip()
        text = fields.get("text", "").strip()
        if not _ACTION_ID.is_valid(action_id):
            return _bad("action_id", "an action id is required")
        if len(text) > MAX_TIP_TEXT:
            return _bad("text", f"longer than {MAX_TIP_TEXT} characters")
        kind = None
        if photo:
            kind = check_photo(photo[0], declared=photo[1], max_bytes=self.channel.max_photo_bytes, allowed=PHOTO_TYPES).type
        elif not text:
            return _bad("text", "a tip needs a text or a photo")
        tip = Tip(action_id=action_id, text=text, channel=self.channel.name, photo=photo[0] if photo else None,
                  photo_type=kind)
        try:
            tip_id = await self.channel.context.tips.submit(tip)
        except NotFound:
            return web.json_response({"error": "not_found", "field": "action_id", "reason": "no such action"},
                                     status=404)
        except Conflict as e:
            return web.json_response({"error": "conflict", "reason": str(e)}, status=409)
        return web.json_response({"id": tip_id}, status=201)


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
