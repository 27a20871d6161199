"""CAP 1.2 over HTTP: ``POST /v1/cap`` takes an organisation's alert; ``GET /v1/actions/{id}/cap`` gives
an action as CAP."""

from __future__ import annotations

from aiohttp import web

from ..cap.xml import MAX_BYTES
from ..errors import BadMessage
from ..inbound import read_body
from .auth import DISPATCHER, OPERATOR, require
from .keys import HUB
from .organisation_auth import visible_action

routes = web.RouteTableDef()
CAP_TYPE = "application/cap+xml"
ACCEPTED = (CAP_TYPE, "application/xml", "text/xml")


@routes.post("/v1/cap")
async def receive(request: web.Request) -> web.Response:
    """Alert starts an action, Update updates it, Cancel ends it; Test and Exercise are dry runs."""
    actor = await require(request, (DISPATCHER,))
    if request.content_type not in ACCEPTED:
        raise BadMessage("Content-Type", f"send the CAP message as {CAP_TYPE}")
    body = await read_body(request, MAX_BYTES)  # bounded: a larger message is refused with 413 unread
    outcome = await request.app[HUB].cap.receive(body, actor)
    status = 201 if outcome.msg_type == "Alert" and not outcome.dry_run else 200
    headers = {"Location": f"/v1/actions/{outcome.action_id}"} if status == 201 else {}
    return web.json_response(outcome.to_dict(), status=status, headers=headers)


@routes.get("/v1/actions/{id}/cap")
async def as_cap(request: web.Request) -> web.Response:
    """The action's latest CAP message (Alert, Update or Cancel, with references to the earlier ones)."""
    actor = await require(request, (DISPATCHER, OPERATOR))
    hub = request.app[HUB]
    action = await visible_action(hub, actor, request.match_info["id"])
    return web.Response(body=await hub.cap.document(action), content_type=CAP_TYPE, charset="utf-8")
