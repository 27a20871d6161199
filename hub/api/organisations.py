"""``/v1/organisations``: organisations and their people's tokens, for the national operator; each
organisation's own people may read their organisation."""

from __future__ import annotations

from aiohttp import web

from ..errors import ValidationError
from ..inbound import read_json_object
from ..organisations import may_see
from ..store import AuditEntry
from .auth import DISPATCHER, OPERATOR, require
from .keys import HUB
from .organisation_auth import national_only

routes = web.RouteTableDef()


@routes.get("/v1/organisations")
async def list_organisations(request: web.Request) -> web.Response:
    actor = await require(request, (OPERATOR, DISPATCHER))
    orgs = await request.app[HUB].organisations.list()
    mine = actor.organisation
    shown = [o for o in orgs if mine is None or mine.national or o.id == mine.id]
    return web.json_response({"organisations": [o.to_dict() for o in shown]})


@routes.get("/v1/organisations/{id}")
async def get_organisation(request: web.Request) -> web.Response:
    actor = await require(request, (OPERATOR, DISPATCHER))
    org = await request.app[HUB].organisations.require(request.match_info["id"])
    if not may_see(actor.organisation, {"organisation": org.id, "id": org.id}):
        raise web.HTTPNotFound(text='{"error":"not_found","reason":"no such organisation"}', content_type="application/json")
    return web.json_response(org.to_dict())


@routes.put("/v1/organisations/{id}")
async def put_organisation(request: web.Request) -> web.Response:
    """Add or replace an organisation (``schemas/organisation.schema.json``); the path names its id."""
    actor = await require(request, (OPERATOR,))
    national_only(actor)
    data = await read_json_object(request)
    if data.get("id", request.match_info["id"]) != request.match_info["id"]:
        raise ValidationError("id", "must equal the id in the path")
    org = await request.app[HUB].organisations.put({**data, "id": request.match_info["id"]})
    await request.app[HUB].store.add_audit(AuditEntry(actor.name, actor.role, "organisation.put", org.id, {"kind": org.kind}))
    return web.json_response(org.to_dict())


@routes.get("/v1/organisations/{id}/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    actor = await require(request, (OPERATOR,))
    national_only(actor)
    hub = request.app[HUB]
    await hub.organisations.require(request.match_info["id"])
    return web.json_response({"tokens": [t.to_dict() for t in await hub.organisations.tokens(request.match_info["id"])]})


@routes.post("/v1/organisations/{id}/tokens")
async def issue_token(request: web.Request) -> web.Response:
    """A token for one person (``{name, role}``); the answer holds it once, the store only its hash."""
    actor = await require(request, (OPERATOR,))
    national_only(actor)
    body = await read_json_object(request)
    for key in ("name", "role"):
        if not isinstance(body.get(key), str):
            raise ValidationError(key, "is required (a string)")
    hub = request.app[HUB]
    org_id = request.match_info["id"]
    record, token = await hub.organisations.issue_token(org_id, body["name"], body["role"])
    await hub.store.add_audit(AuditEntry(actor.name, actor.role, "organisation.token.issue", record.id,
                                         {"organisation": org_id, "name": record.name, "role": record.role}))
    return web.json_response({**record.to_dict(), "token": token}, status=201,
                             headers={"Cache-Control": "no-store"})


@routes.delete("/v1/organisations/{id}/tokens/{token}")
async def revoke_token(request: web.Request) -> web.Response:
    actor = await require(request, (OPERATOR,))
    national_only(actor)
    hub = request.app[HUB]
    tokens = {t.id for t in await hub.organisations.tokens(request.match_info["id"])}
    if request.match_info["token"] not in tokens:
        raise web.HTTPNotFound(text='{"error":"not_found","reason":"no such token"}', content_type="application/json")
    record = await hub.organisations.revoke(request.match_info["token"])
    await hub.store.add_audit(AuditEntry(actor.name, actor.role, "organisation.token.revoke", record.id,
                                         {"organisation": record.organisation}))
    return web.json_response(record.to_dict())
