"""``/v1/participants``: self-registration, self-management, operator management and CSV import."""

from __future__ import annotations

from aiohttp import web

from ..errors import Forbidden, ValidationError
from ..inbound import decode_text, read_body, read_json_object
from ..participants import explicit
from .auth import OPERATOR, PARTICIPANT, optional, require, require_self_or
from .guard import client_of
from .keys import HUB
from .me import audit_change
from .organisation_auth import national_only

routes = web.RouteTableDef()
#: about 150,000 participants per import; larger sets go in several requests or through the command line
MAX_IMPORT_BYTES = 32 * 1024 * 1024


def _vouched(request: web.Request) -> bool:
    """``?verified=true``: the operator vouches that the contacts are the participants' own (audited).
    Without it, contacts are unverified until their owners prove them (``/v1/me``)."""
    value = request.query.get("verified", "false").lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValidationError("verified", "must be true or false")
    return value in ("true", "1", "yes")


@routes.post("/v1/participants")
async def register(request: web.Request) -> web.Response:
    """Operators register anyone; without a token a person registers themself and gets a personal token."""
    actor = await optional(request)
    if actor is not None and actor.role not in (OPERATOR,):
        raise Forbidden("only operators register others; register yourself without a token")
    if actor is not None:
        national_only(actor)
    data = await read_json_object(request)
    hub = request.app[HUB]
    if actor is None:
        data.pop("id", None)
        await hub.verifier.limiter.registration(client_of(request))
    # a person's contacts stay unverified until proven (/v1/me); an operator may vouch for them
    verified = actor is not None and _vouched(request)
    participant, token = await hub.registry.register(data, issue_token=actor is None, verified=verified)
    if verified:
        await hub.registry.audit_verified_import([participant.id], actor=actor.name, role=actor.role)
    body = {"participant": explicit(participant.to_dict())}
    if token:
        body["token"] = token
    return web.json_response(body, status=201, headers={"Location": f"/v1/participants/{participant.id}"})


@routes.get("/v1/participants/{id}")
async def get(request: web.Request) -> web.Response:
    actor = await require(request, (OPERATOR, PARTICIPANT))
    national_only(actor)
    require_self_or(actor, request.match_info["id"], OPERATOR)
    return web.json_response(explicit(await request.app[HUB].registry.get(request.match_info["id"])))


@routes.put("/v1/participants/{id}")
async def put(request: web.Request) -> web.Response:
    actor = await require(request, (OPERATOR, PARTICIPANT))
    national_only(actor)
    require_self_or(actor, request.match_info["id"], OPERATOR)
    data = await read_json_object(request)
    hub = request.app[HUB]
    registry = hub.registry
    verified = actor.role == OPERATOR and _vouched(request)
    before = await registry.get(request.match_info["id"])
    participant = await registry.update(request.match_info["id"], data, verified=verified)
    if verified:
        await registry.audit_verified_import([participant.id], actor=actor.name, role=actor.role)
    await audit_change(hub, participant.id, before, participant.to_dict(), actor.name, actor.role)
    return web.json_response(explicit(participant.to_dict()))


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
    actor = await require(request, (OPERATOR,))
    national_only(actor)
    if request.content_type not in ("text/csv", "text/plain"):
        raise ValidationError("Content-Type", "send the CSV as text/csv")
    text = decode_text(await read_body(request, MAX_IMPORT_BYTES))
    report = await request.app[HUB].registry.import_csv(
        text, verified=_vouched(request), actor=actor.name, role=actor.role
    )
    return web.json_response(report, status=200 if not report["rejected"] else 207)
