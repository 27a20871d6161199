"""Health, metrics, OpenAPI, routing rules, channels, sandbox outbox, audit and photos."""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import datetime, timezone

from aiohttp import web

from ..errors import AuthError, Gone, UnsupportedMedia, ValidationError
from ..inbound import BODY, decode_text, read_body, read_json_object
from ..photo_circulation import MAX_AGE_SECONDS
from ..photos import WEB_TYPES, check_photo
from ..routing import MAX_RULES_BYTES, RouteFacts
from ..routing_lint import lint
from ..rules_admin import replace_rules
from ..rules_cluster import rules_sha256
from .auth import DISPATCHER, OPERATOR, optional, require
from .keys import HUB
from .organisation_auth import national_only
from .openapi import openapi_document
from .params import query_int

routes = web.RouteTableDef()


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
    warnings = [w.to_dict() for w in lint(hub.rules.current)]
    return web.json_response({"source": str(hub.rules.path), "rules": hub.rules.text, "version": hub.rules.version,
                              "sha256": rules_sha256(hub.rules.text), "warnings": warnings})


@routes.put("/v1/routes")
async def put_routes(request: web.Request) -> web.Response:
    """Replace the routing rules. An invalid file is refused with the reason; the rules in force stay.

    Valid rules are written over the file they were read from (``[hub] routes``), or to the data folder
    when they were the shipped defaults, so a restart keeps them; the answer says where (``saved_to``).
    """
    actor = await require(request, (OPERATOR,))
    national_only(actor)
    text = decode_text(await read_body(request, MAX_RULES_BYTES))
    return web.json_response(await replace_rules(
        request.app[HUB], actor, text=text, source="PUT /v1/routes", allow_gaps=_allow_gaps(request)))


def _allow_gaps(request: web.Request) -> bool:
    """``?allow_gaps=true``: the operator confirms rules that send some action type and urgency nowhere."""
    return request.query.get("allow_gaps", "").lower() in ("1", "true", "yes")


@routes.post("/v1/routes/reload")
async def reload_routes(request: web.Request) -> web.Response:
    """Re-read the rules from their file (as ``SIGHUP`` does); an invalid file leaves the rules in force."""
    actor = await require(request, (OPERATOR,))
    national_only(actor)
    hub = request.app[HUB]
    return web.json_response(await replace_rules(
        hub, actor, source=f"POST /v1/routes/reload ({hub.rules.path})", allow_gaps=_allow_gaps(request)))


@routes.post("/v1/routes/test")
async def test_routes(request: web.Request) -> web.Response:
    """Where an action would go, without sending anything. With an ``area``: recipients per channel too."""
    actor = await require(request, (OPERATOR, DISPATCHER))
    body = await read_json_object(request)
    hub = request.app[HUB]
    at = _moment(body.pop("at", None))
    if "area" in body:
        payload = {"description": "dry run", **body}
        if payload.get("type") == "crisis":
            payload.setdefault("safety_advice", "dry run")
        plan = await hub.actions.plan(payload, actor, at=at)
        return web.json_response({**plan, "at": at.isoformat()} if at else plan)
    for key in ("type", "urgency"):
        if key not in body:
            raise ValidationError(key, "is required")
    facts = RouteFacts(type=body["type"], urgency=body["urgency"], region=body.get("region"), domain=body.get("domain"))
    return web.json_response({"route": hub.rules.current.route(facts).to_dict()})


@routes.get("/v1/sandbox/outbox")
async def outbox(request: web.Request) -> web.Response:
    national_only(await require(request, (OPERATOR, DISPATCHER)))
    q = request.query
    limit = query_int(request, "limit", 100, 1, 1000)
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
    """An action's photo: public while its action runs; 410 for the public once every action naming it
    has ended (after a grace, :mod:`hub.photo_circulation`); dispatchers and operators still see it."""
    name = request.match_info["name"]
    if not re.fullmatch(r"[0-9a-f]{32}\.(jpg|png|webp)", name):
        raise web.HTTPNotFound()
    hub = request.app[HUB]
    staff = await _staff(request)
    # a name no photo has is answered before anything looks through the actions (any name of the
    # right form would otherwise cost a search of every action's record)
    found = await hub.store.photo_get(name)
    path = hub.config.data_dir / "photos" / name  # a photo uploaded before photos moved into the store
    if found is None and not await asyncio.to_thread(path.exists):
        raise web.HTTPNotFound()
    if not staff and await hub.photo_circulation.withdrawn(name):
        raise Gone("this photo belonged to an action that has ended and is no longer shown")
    # staff's copies are theirs alone; the public's may be kept, but not much past a withdrawal
    cache = "private, no-store" if staff else f"public, max-age={MAX_AGE_SECONDS}"
    if found is None:
        return web.FileResponse(path, headers={"Cache-Control": cache})
    body, ctype = found
    return web.Response(body=body, content_type=ctype, headers={"Cache-Control": cache})


async def _staff(request: web.Request) -> bool:
    """Whether a dispatcher's or operator's token came with the request (any other, or a wrong one, is the public)."""
    try:
        actor = await optional(request)
    except AuthError:
        return False
    return actor is not None and actor.role in (DISPATCHER, OPERATOR)


def _moment(value) -> datetime | None:
    """``at`` of a dry run: ISO 8601 (an offset, else UTC), the moment quiet hours are judged at."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationError("at", "must be a time like 2026-03-10T23:30:00+01:00")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

