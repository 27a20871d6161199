"""Bearer tokens with roles: dispatcher, operator, participant (who manages only themselves)."""

from __future__ import annotations

import hmac
from typing import Iterable

from aiohttp import web

from ..actions import Actor
from ..errors import AuthError, Forbidden
from .organisation_auth import organisation_actor

DISPATCHER, OPERATOR, PARTICIPANT = "dispatcher", "operator", "participant"


class TokenAuth:
    def __init__(self, tokens, registry, organisations=None):
        self.tokens = list(tokens)
        self.registry = registry
        #: people's tokens of organisations (hub.organisations.Organisations), checked after the static ones
        self.organisations = organisations

    async def actor(self, request: web.Request) -> Actor | None:
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthError("use 'Authorization: Bearer <token>'")
        token = token.strip()
        if not token.isascii() or not token.isprintable() or len(token) > 512:
            raise AuthError("unknown token")  # no token the hub issues looks like this
        for t in self.tokens:
            if hmac.compare_digest(t.token.encode(), token.encode()):
                return Actor(t.name, t.role)
        if self.organisations is not None:
            found = await organisation_actor(self.organisations, token)
            if found is not None:
                return found
        participant_id = await self.registry.by_token(token)
        if participant_id:
            return Actor(f"participant:{participant_id}", PARTICIPANT, participant_id)
        raise AuthError("unknown token")


async def require(request: web.Request, roles: Iterable[str]) -> Actor:
    actor = await request.app[AUTH].actor(request)
    if actor is None:
        raise AuthError("this endpoint needs a bearer token")
    roles = tuple(roles)
    if actor.role not in roles:
        raise Forbidden(f"role {actor.role!r} may not do this (needs {' or '.join(roles)})")
    return actor


async def optional(request: web.Request) -> Actor | None:
    return await request.app[AUTH].actor(request)


def require_self_or(actor: Actor, participant_id: str, *roles: str) -> None:
    if actor.role in roles:
        return
    if actor.role == PARTICIPANT and actor.participant_id == participant_id:
        return
    raise Forbidden("participants may only manage themselves")


AUTH = web.AppKey("auth", TokenAuth)
