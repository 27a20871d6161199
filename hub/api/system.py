"""Health, metrics, OpenAPI, routing rules, channels, sandbox outbox, audit and photos."""

from __future__ import annotations

import asyncio
import hashlib
import re

from aiohttp import web

from ..errors import ValidationError
from ..routing import RouteFacts
from .auth import DISPATCHER, OPERATOR, require
from .errors import read_json
from .keys import HUB
from .organisation_auth import national_only
from .openapi import openapi_document

routes = web.RouteTableDef()
PHOTO_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


@routes.get("/v1/health")
async def health(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    channels = hub.channel_status()
    ok = hub.started
    return web.json_response(
        {"status": "ok" if ok else "starting", "channels": {k: v["status"] for k, v in channels.items()}},
        status=200 if ok else 503,
    )


@routes.get("/v1/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = request.app[HUB].metrics.render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app))


@routes.get("/v1/channels")
async def channels(request: web.Request) -> web.Response:
    await require(request, (OPERATOR, DISPATCHER))
    return web.json_response({"channels": request.app[HUB].channel_status()})


@routes.get("/v1/routes")
async def get_routes(request: web.Request) -> web.Response:
    await require(request, (OPERATOR, DISPATCHER))
    hub = request.app[HUB]
    return web.json_response({"source": str(hub.rules.path), "rules": hub.rules.text})


@routes.put("/v1/routes")
async def put_routes(request: web.Request) -> web.Response:
    """Replace the routing rules. An invalid file is refused with the reason; the rules in force stay."""
    actor = await require(request, (OPERATOR,))
    national_only(actor)
    hub = request.app[HUB]
    text = await request.text()
    hub.rules.reload(text, source="PUT /v1/routes")
    hub.save_rules()
    await hub.store.add_audit(_audit(actor, "routes.reload", "routes", {"sha256": hashlib.sha256(text.encode()).hexdigest()}))
    return web.json_response({"status": "loaded", "source": str(hub.rules.path)})


@routes.post("/v1/routes/test")
async def test_routes(request: web.Request) -> web.Response:
    """Where an action would go, without sending anything. With an ``area``: recipients per channel too."""
    actor = await require(request, (OPERATOR, DISPATCHER))
    body = await read_json(request)
    hub = request.app[HUB]
    if "area" in body:
        payload = {"description": "dry run", **body}
        return web.json_response(await hub.actions.plan(payload, actor))
    for key in ("type", "urgency"):
        if key not in body:
            raise ValidationError(key, "is required")
    facts = RouteFacts(type=body["type"], urgency=body["urgency"], region=body.get("region"), domain=body.get("domain"))
    return web.json_response({"route": hub.rules.current.route(facts).to_dict()})


@routes.get("/v1/sandbox/outbox")
async def outbox(request: web.Request) -> web.Response:
    national_only(await require(request, (OPERATOR, DISPATCHER)))
    q = request.query
    try:
        limit = min(int(q.get("limit", 100)), 1000)
    except ValueError as e:
        raise ValidationError("limit", "must be an integer") from e
    items = await request.app[HUB].store.outbox_list(channel=q.get("channel"), action_id=q.get("action_id"), limit=limit)
    return web.json_response({"sandbox": True, "messages": items})


@routes.get("/v1/audit")
async def audit(request: web.Request) -> web.Response:
    national_only(await require(request, (OPERATOR,)))
    return web.json_response({"audit": await request.app[HUB].store.list_audit(subject=request.query.get("subject"))})


@routes.post("/v1/photos")
async def upload_photo(request: web.Request) -> web.Response:
    """Upload a photo for an action; the answer's ``url`` goes into the action's ``photos``."""
    await require(request, (DISPATCHER,))
    hub = request.app[HUB]
    ctype = request.content_type
    if ctype not in PHOTO_TYPES:
        raise ValidationError("Content-Type", f"must be one of {', '.join(PHOTO_TYPES)}")
    body = await request.read()
    if not body:
        raise ValidationError("(body)", "is empty")
    if len(body) > hub.config.max_photo_bytes:
        raise ValidationError("(body)", f"larger than {hub.config.max_photo_bytes} bytes")
    name = hashlib.sha256(body).hexdigest()[:32] + PHOTO_TYPES[ctype]
    # in the store, not one process's folder: any hub behind the load balancer serves it
    await hub.store.photo_put(name, ctype, body)
    return web.json_response({"url": f"/v1/photos/{name}"}, status=201)


@routes.get("/v1/photos/{name}")
async def photo(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if not re.fullmatch(r"[0-9a-f]{32}\.(jpg|png|webp)", name):
        raise web.HTTPNotFound()
    hub = request.app[HUB]
    found = await hub.store.photo_get(name)
    if found is None:
        # a photo uploaded before photos moved into the store
        path = hub.config.data_dir / "photos" / name
        if not await asyncio.to_thread(path.exists):
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})
    body, ctype = found
    return web.Response(body=body, content_type=ctype, headers={"Cache-Control": "public, max-age=86400"})


def _audit(actor, verb, subject, detail):
    from ..store import AuditEntry

    return AuditEntry(actor.name, actor.role, verb, subject, detail)
