"""Store operations for partners: organisations, their tokens, CAP messages per action, public policies.

A mixin on :class:`~hub.store.queries.SharedQueries`' three primitives, shared by both backends; the
one thing that differs is how SQL reaches into an action's JSON data (:attr:`ACTION_ORGANISATION`),
which each backend sets to the expression its ``actions_organisation`` index is built on.
"""

from __future__ import annotations

import json
import time
from typing import Any, Mapping

from ..errors import Conflict

ORG_PUT = (
    "INSERT INTO organisations (id, data, created_at, updated_at) VALUES (?,?,?,?)"
    " ON CONFLICT (id) DO UPDATE SET data=excluded.data, updated_at=excluded.updated_at"
)
ORG_GET = "SELECT data FROM organisations WHERE id=?"
ORG_LIST = "SELECT data FROM organisations ORDER BY id"

TOKEN_COLUMNS = "id, organisation, name, role, created_at, revoked_at"
TOKEN_KEYS = ("id", "organisation", "name", "role", "created_at", "revoked_at")
TOKEN_ADD = "INSERT INTO organisation_tokens (id, organisation, name, role, token_hash, created_at) VALUES (?,?,?,?,?,?)"
TOKEN_BY_HASH = f"SELECT {TOKEN_COLUMNS} FROM organisation_tokens WHERE token_hash=?"
TOKEN_GET = f"SELECT {TOKEN_COLUMNS} FROM organisation_tokens WHERE id=?"
TOKEN_LIST = f"SELECT {TOKEN_COLUMNS} FROM organisation_tokens ORDER BY organisation, created_at, id"
TOKEN_LIST_ORG = f"SELECT {TOKEN_COLUMNS} FROM organisation_tokens WHERE organisation=? ORDER BY created_at, id"
TOKEN_REVOKE = "UPDATE organisation_tokens SET revoked_at=? WHERE id=? AND revoked_at IS NULL"

CAP_ADD = (
    "INSERT INTO cap_messages (sender, identifier, sent, action_id, version, msg_type, organisation, received_at)"
    " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (sender, identifier) DO NOTHING"
)
CAP_KEYS = ("sender", "identifier", "sent", "action_id", "version", "msg_type", "organisation")
CAP_FIND = f"SELECT {', '.join(CAP_KEYS)} FROM cap_messages WHERE sender=? AND identifier=?"
CAP_OF_ACTION = f"SELECT {', '.join(CAP_KEYS)} FROM cap_messages WHERE action_id=? ORDER BY version"

POLICY_PUT = (
    "INSERT INTO public_policies (action_type, data, updated_at) VALUES (?,?,?)"
    " ON CONFLICT (action_type) DO UPDATE SET data=excluded.data, updated_at=excluded.updated_at"
)
POLICY_LIST = "SELECT action_type, data FROM public_policies ORDER BY action_type"


class PartnerQueries:
    """Organisations, tokens, CAP messages and public policies on either backend."""

    #: SQL for an action's organisation id, over the ``actions`` table's ``data`` column
    ACTION_ORGANISATION = "json_extract(data, '$.organisation')"

    # -- organisations -------------------------------------------------------------------------
    async def put_organisation(self, org_id: str, data: Mapping[str, Any]) -> None:
        now = time.time()
        await self._run(ORG_PUT, (org_id, json.dumps(data), now, now))

    async def get_organisation(self, org_id: str) -> dict[str, Any] | None:
        row = await self._one(ORG_GET, (org_id,))
        return json.loads(row[0]) if row else None

    async def list_organisations(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in await self._all(ORG_LIST)]

    # -- tokens (only their SHA-256 is kept) ---------------------------------------------------
    async def add_organisation_token(
        self, token_id: str, org_id: str, name: str, role: str, token_hash: str
    ) -> dict[str, Any]:
        await self._run(TOKEN_ADD, (token_id, org_id, name, role, token_hash, time.time()))
        row = await self._one(TOKEN_GET, (token_id,))
        return dict(zip(TOKEN_KEYS, row))

    async def organisation_token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        row = await self._one(TOKEN_BY_HASH, (token_hash,))
        return dict(zip(TOKEN_KEYS, row)) if row else None

    async def list_organisation_tokens(self, org_id: str | None = None) -> list[dict[str, Any]]:
        rows = await (self._all(TOKEN_LIST_ORG, (org_id,)) if org_id else self._all(TOKEN_LIST))
        return [dict(zip(TOKEN_KEYS, r)) for r in rows]

    async def revoke_organisation_token(self, token_id: str) -> dict[str, Any] | None:
        """Revoke a token (revoking twice keeps the first time); ``None`` if there is no such token."""
        await self._run(TOKEN_REVOKE, (time.time(), token_id))
        row = await self._one(TOKEN_GET, (token_id,))
        return dict(zip(TOKEN_KEYS, row)) if row else None

    # -- actions per organisation ----------------------------------------------------------------
    async def list_actions_of(
        self, organisation: str, *, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The newest actions one organisation issued (the national operator lists every action instead)."""
        where, args = [f"{self.ACTION_ORGANISATION}=?"], [organisation]
        if status:
            where.append("status=?")
            args.append(status)
        sql = f"SELECT data FROM actions WHERE {' AND '.join(where)} ORDER BY created_at DESC LIMIT ?"
        return [json.loads(r[0]) for r in await self._all(sql, (*args, limit))]

    # -- CAP messages ------------------------------------------------------------------------------
    async def add_cap_message(self, message: Mapping[str, Any]) -> None:
        """Record which CAP message (sender, identifier) made which version of an action; a message
        seen before is a :class:`~hub.errors.Conflict`."""
        if not await self._run(CAP_ADD, (*(message[k] for k in CAP_KEYS), time.time())):
            raise Conflict(f"CAP message {message['sender']},{message['identifier']} was received before")

    async def find_cap_message(self, sender: str, identifier: str) -> dict[str, Any] | None:
        row = await self._one(CAP_FIND, (sender, identifier))
        return dict(zip(CAP_KEYS, row)) if row else None

    async def cap_messages(self, action_id: str) -> list[dict[str, Any]]:
        return [dict(zip(CAP_KEYS, r)) for r in await self._all(CAP_OF_ACTION, (action_id,))]

    # -- what the public overview shows ---------------------------------------------------------
    async def put_public_policy(self, action_type: str, data: Mapping[str, Any]) -> None:
        await self._run(POLICY_PUT, (action_type, json.dumps(data), time.time()))

    async def public_policies(self) -> dict[str, dict[str, Any]]:
        return {t: json.loads(d) for t, d in await self._all(POLICY_LIST)}
