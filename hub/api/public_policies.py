"""``/v1/public-policies``: what the public overview shows per action type (the operator decides)."""

from __future__ import annotations

from aiohttp import web

from ..errors import ValidationError
from ..inbound import read_json_object
from ..models import ActionType
from ..public import policies, policy_from_dict
from ..public.web import forget
from ..store import AuditEntry
from .auth import DISPATCHER, OPERATOR, require
from .keys import HUB
from .organisation_auth import national_only

routes = web.RouteTableDef()


@routes.get("/v1/public-policies")
async def list_policies(request: web.Request) -> web.Response:
    await require(request, (OPERATOR, DISPATCHER))
    stored = await request.app[HUB].store.public_policies()
    return web.json_response({"policies": {t: p.to_dict() for t, p in policies(stored).items()}})


@routes.put("/v1/public-policies/{type}")
async def put_policy(request: web.Request) -> web.Response:
    """Change one type's policy; keys left out keep their current value."""
    actor = await require(request, (OPERATOR,))
    national_only(actor)
    kind = request.match_info["type"]
    if kind not in set(ActionType):
        raise ValidationError("type", f"unknown action type {kind!r}")
    hub = request.app[HUB]
    current = policies(await hub.store.public_policies())[kind]
    policy = policy_from_dict(await read_json_object(request), current)
    await hub.store.put_public_policy(kind, policy.to_dict())
    await hub.store.add_audit(AuditEntry(actor.name, actor.role, "public_policy.put", kind, policy.to_dict()))
    forget(request.app)
    return web.json_response({"type": kind, "policy": policy.to_dict()})
