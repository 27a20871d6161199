"""Health, metrics, OpenAPI, routing rules, channels, sandbox outbox, audit and photos."""

from __future__ import annotations

import asyncio
import hashlib
import re

from aiohttp import web

from ..errors import UnsupportedMedia, ValidationError
from ..inbound import BODY, decode_text, read_body
from ..photos import WEB_TYPES, check_photo
from ..routing import RouteFacts
from .auth import DISPATCHER, OPERATOR, require
from .errors import read_json
from .keys import HUB
from .openapi import openapi_document
from .params import query_int

routes = web.RouteTableDef()
#: a rules file is a few kilobytes; this leaves room for comments and many regions
MAX_RULES_BYTES = 256 * 1024


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
    hub = request.app[HUB]
    text = decode_text(await read_body(request, MAX_RULES_BYTES))
    allow_gaps = request.query.get("allow_gaps", "").lower() in ("1", "true", "yes")
    # parsing and checking take time on a large or hostile file: never on the event loop
    rules = await asyncio.to_thread(hub.rules.parse, text, source="PUT /v1/routes", allow_gaps=allow_gaps)
    hub.rules.install(rules)
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
    await require(request, (OPERATOR, DISPATCHER))
    q = request.query
    limit = query_int(request, "limit", 100, 1, 1000)
    items = await request.app[HUB].store.outbox_list(channel=q.get("channel"), action_id=q.get("action_id"), limit=limit)
    return web.json_response({"sandbox": True, "messages": items})


@routes.get("/v1/audit")
async def audit(request: web.Request) -> web.Response:
    await require(request, (OPERATOR,))
    return web.json_response({"audit": await request.app[HUB].store.list_audit(subject=request.query.get("subject"))})


@routes.post("/v1/photos")
async def upload_photo(request: web.Request) -> web.Response:
    """Upload a photo for an action; the answer's ``url`` goes into the action's ``photos``."""
    await require(request, (DISPATCHER,))
    hub = request.app[HUB]
    ctype = request.content_type
    if ctype not in WEB_TYPES:
        raise UnsupportedMedia("Content-Type", f"must be one of {', '.join(WEB_TYPES)}")
    body = await read_body(request, hub.config.max_photo_bytes, field=BODY)
    info = check_photo(body, declared=ctype, max_bytes=hub.config.max_photo_bytes, allowed=WEB_TYPES, field=BODY)
    name = hashlib.sha256(body).hexdigest()[:32] + info.extension
    # in the store, not one process's folder: any hub behind the load balancer serves it
    await hub.store.photo_put(name, info.type, body)
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
