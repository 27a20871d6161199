"""``/v1/participants``: self-registration, self-management, operator management and CSV import."""

from __future__ import annotations

from aiohttp import web

from ..errors import ValidationError
from .auth import OPERATOR, PARTICIPANT, optional, require, require_self_or
from .errors import read_json
from .keys import HUB
from .organisation_auth import national_only

routes = web.RouteTableDef()


@routes.post("/v1/participants")
async def register(request: web.Request) -> web.Response:
    """Operators register anyone; without a token a person registers themself and gets a personal token."""
    actor = await optional(request)
    if actor is not None and actor.role not in (OPERATOR,):
        raise ValidationError("Authorization", "only operators register others; register yourself without a token")
    if actor is not None:
        national_only(actor)
    data = await read_json(request)
    if actor is None:
        data.pop("id", None)
    participant, token = await request.app[HUB].registry.register(data, issue_token=actor is None)
    body = {"participant": participant.to_dict()}
    if token:
        body["token"] = token
    return web.json_response(body, status=201, headers={"Location": f"/v1/participants/{participant.id}"})


@routes.get("/v1/participants/{id}")
async def get(request: web.Request) -> web.Response:
    actor = await require(request, (OPERATOR, PARTICIPANT))
    national_only(actor)
    require_self_or(actor, request.match_info["id"], OPERATOR)
    return web.json_response(await request.app[HUB].registry.get(request.match_info["id"]))


@routes.put("/v1/participants/{id}")
async def put(request: web.Request) -> web.Response:
    actor = await require(request, (OPERATOR, PARTICIPANT))
    national_only(actor)
    require_self_or(actor, request.match_info["id"], OPERATOR)
    data = await read_json(request)
    participant = await request.app[HUB].registry.update(request.match_info["id"], data)
    return web.json_response(participant.to_dict())


@routes.delete("/v1/participants/{id}")
async def erase(request: web.Request) -> web.Response:
    """Erase a participant: every piece of personal data is removed, also from the delivery ledger."""
    actor = await require(request, (OPERATOR, PARTICIPANT))
    national_only(actor)
    require_self_or(actor, request.match_info["id"], OPERATOR)
    await request.app[HUB].registry.erase(request.match_info["id"], actor=actor.name, role=actor.role)
    return web.Response(status=204)


@routes.post("/v1/participants/import")
async def import_csv(request: web.Request) -> web.Response:
    national_only(await require(request, (OPERATOR,)))
    if request.content_type not in ("text/csv", "text/plain"):
        raise ValidationError("Content-Type", "send the CSV as text/csv")
    report = await request.app[HUB].registry.import_csv(await request.text())
    return web.json_response(report, status=200 if not report["rejected"] else 207)
