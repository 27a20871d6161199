"""``/v1/actions``: start, list, get with live counts, update, end, deliveries, tips, audit, live events."""

from __future__ import annotations


from aiohttp import web

from ..errors import Forbidden, NotFound, ValidationError
from ..inbound import read_json_object, read_multipart
from ..models import Tip
from ..photos import check_photo
from ..schemas import validate
from .auth import DISPATCHER, OPERATOR, PARTICIPANT, optional, require
from .events import after_tip, stream_action
from .keys import HUB
from .params import MAX_ID, path_id, query_int
from .organisation_auth import visible_action

routes = web.RouteTableDef()
READERS = (DISPATCHER, OPERATOR)


@routes.post("/v1/actions")
async def start_action(request: web.Request) -> web.Response:
    actor = await require(request, (DISPATCHER,))
    payload = await read_json_object(request)
    hub = request.app[HUB]
    if request.query.get("dry_run") in ("1", "true", "yes"):
        return web.json_response(await hub.actions.plan(payload, actor))
    action = await hub.actions.start(payload, actor)
    return web.json_response(action, status=201, headers={"Location": f"/v1/actions/{action['id']}"})


@routes.get("/v1/actions")
async def list_actions(request: web.Request) -> web.Response:
    actor = await require(request, READERS)
    status = request.query.get("status")
    if status not in (None, "active", "ended"):
        raise ValidationError("status", "must be 'active' or 'ended'")
    limit = query_int(request, "limit", 100, 1, 1000)
    store = request.app[HUB].store
    if actor.organisation is None or actor.organisation.national:
        actions = await store.list_actions(status=status, limit=limit)
    else:  # each organisation sees its own actions only
        actions = await store.list_actions_of(actor.organisation.id, status=status, limit=limit)
    return web.json_response({"actions": actions})


@routes.get("/v1/actions/{id}")
async def get_action(request: web.Request) -> web.Response:
    actor = await require(request, READERS)
    return web.json_response(await request.app[HUB].actions.get(request.match_info["id"], actor))


@routes.patch("/v1/actions/{id}")
async def update_action(request: web.Request) -> web.Response:
    actor = await require(request, (DISPATCHER,))
    payload = await read_json_object(request)
    return web.json_response(await request.app[HUB].actions.update(request.match_info["id"], payload, actor))


@routes.post("/v1/actions/{id}/end")
async def end_action(request: web.Request) -> web.Response:
    actor = await require(request, (DISPATCHER,))
    payload = await read_json_object(request)
    return web.json_response(await request.app[HUB].actions.end(request.match_info["id"], payload, actor))


#: ledger rows per page of ``GET /v1/actions/{id}/deliveries``: by default, and at most
DELIVERIES_PAGE, DELIVERIES_MAX_PAGE = 1000, 5000


@routes.get("/v1/actions/{id}/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    """The action's ledger rows in id order, a page at a time: ``?after=<id>`` (the previous page's
    ``next_after``) and ``?limit=`` (1..5000, default 1000). ``next_after`` is null on the last page."""
    actor = await require(request, READERS)
    hub = request.app[HUB]
    action_id = request.match_info["id"]
    after = query_int(request, "after", 0, 0, MAX_ID)
    limit = query_int(request, "limit", DELIVERIES_PAGE, 1, DELIVERIES_MAX_PAGE)
    await visible_action(hub, actor, action_id)
    # one row more than asked tells whether another page follows, without a count of the whole ledger
    rows = await hub.store.ledger_rows(action_id, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return web.json_response({"deliveries": rows, "next_after": rows[-1]["id"] if more else None})


@routes.get("/v1/actions/{id}/audit")
async def action_audit(request: web.Request) -> web.Response:
    actor = await require(request, READERS)
    await visible_action(request.app[HUB], actor, request.match_info["id"])
    return web.json_response({"audit": await request.app[HUB].store.list_audit(subject=request.match_info["id"])})


@routes.post("/v1/actions/{id}/tips")
async def add_tip(request: web.Request) -> web.Response:
    """A tip for an action: JSON ``{text}`` or multipart with ``text`` and an optional ``photo``."""
    actor = await optional(request)
    if actor is not None and actor.role not in (PARTICIPANT, DISPATCHER):
        raise Forbidden(f"role {actor.role!r} may not send tips (tips come from participants or dispatchers)")
    hub = request.app[HUB]
    action_id = request.match_info["id"]
    if actor is not None and actor.role == DISPATCHER:
        await visible_action(hub, actor, action_id)
    photo, photo_type, fields = None, None, {}
    if request.content_type.startswith("multipart/"):
        limits = {"text": 16 * 1024, "sender": 1024, "photo": hub.config.max_photo_bytes}
        parts = await read_multipart(request, limits)
        fields = {name: parts[name].text(name).strip() for name in ("text", "sender") if name in parts}
        if "photo" in parts:
            upload = parts["photo"]
            photo = upload.data
            photo_type = check_photo(photo, declared=upload.content_type, max_bytes=hub.config.max_photo_bytes).type
    else:
        fields = await read_json_object(request)
    validate("tip", fields)
    tip = Tip(
        action_id=action_id,
        text=fields["text"],
        channel="api",
        participant_id=actor.participant_id if actor else None,
        sender=fields.get("sender"),
        photo=photo,
        photo_type=photo_type,
    )
    tip_id = await hub.api_tips.submit(tip)
    hub.metrics.tips.labels("api").inc()
    return web.json_response({"id": int(tip_id), "action_id": action_id}, status=201)


@routes.get("/v1/actions/{id}/tips")
async def list_tips(request: web.Request) -> web.Response:
    actor = await require(request, READERS)
    hub = request.app[HUB]
    await visible_action(hub, actor, request.match_info["id"])
    tips = await hub.store.list_tips(request.match_info["id"])
    for t in tips:
        if t["has_photo"]:
            t["photo_url"] = f"/v1/actions/{t['action_id']}/tips/{t['id']}/photo"
    return web.json_response({"tips": tips})


@routes.get("/v1/actions/{id}/tips/{tip}/photo")
async def tip_photo(request: web.Request) -> web.Response:
    actor = await require(request, READERS)
    await visible_action(request.app[HUB], actor, request.match_info["id"])
    tip_id = path_id(request, "tip")
    found = await request.app[HUB].store.tip_photo(request.match_info["id"], tip_id)
    if not found:
        raise NotFound("no such photo")
    return web.Response(body=found[0], content_type=found[1])


@routes.get("/v1/actions/{id}/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the action with live counts whenever they change, and each tip in full.

    ``?after=<tip id>`` resumes after the newest tip the client holds.
    """
    actor = await require(request, READERS)
    await visible_action(request.app[HUB], actor, request.match_info["id"])
    return await stream_action(request, request.app[HUB], request.match_info["id"], after=after_tip(request))
