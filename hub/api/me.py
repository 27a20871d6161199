"""``/v1/me``: a citizen signs up, signs in, proves their contacts and manages themselves.

Sign-up and sign-in are by a link sent by e-mail; the link (on the participant page) hands its token
to ``POST /v1/me/link``, which answers with a session token for ``Authorization: Bearer``. The answers
of ``signup`` and ``signin`` are the same whether or not the address is registered. Sending codes and
links is rate-limited (429 with ``Retry-After``). A participant's personal token (from
``POST /v1/participants`` without a token) works here too.
"""

from __future__ import annotations

from aiohttp import web

from ..errors import AuthError, ValidationError
from ..inbound import read_json_object
from ..participants import explicit
from ..store import AuditEntry
from .auth import PARTICIPANT, require
from .guard import client_of
from .keys import HUB

routes = web.RouteTableDef()

SENT = {
    "status": "accepted",
    "reason": "if this address can be used, a link is on its way; it is valid for a short while and works once",
}


async def me(request: web.Request) -> str:
    actor = await require(request, (PARTICIPANT,))
    if actor.participant_id is None:
        raise AuthError("this endpoint needs a participant's token")
    return actor.participant_id


@routes.post("/v1/me/signup")
async def signup(request: web.Request) -> web.Response:
    """Start signing up: ``{"email", "age_confirmed": true, "language"}``; a link follows by e-mail."""
    await request.app[HUB].verifier.sign_up(await read_json_object(request), client=client_of(request))
    return web.json_response(SENT, status=202)


@routes.post("/v1/me/signin")
async def signin(request: web.Request) -> web.Response:
    """Ask for a sign-in link: ``{"email"}``."""
    await request.app[HUB].verifier.sign_in(await read_json_object(request), client=client_of(request))
    return web.json_response(SENT, status=202)


@routes.post("/v1/me/link")
async def use_link(request: web.Request) -> web.Response:
    """Use a link from an e-mail once: ``{"token"}``. A sign-up or sign-in answers with a session token."""
    data = await read_json_object(request)
    return web.json_response(await request.app[HUB].verifier.use_link(data.get("token")))


@routes.post("/v1/me/signout")
async def signout(request: web.Request) -> web.Response:
    await me(request)
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    await request.app[HUB].verifier.close_session(token)
    return web.Response(status=204)


@routes.get("/v1/me")
async def get_me(request: web.Request) -> web.Response:
    return web.json_response(explicit(await request.app[HUB].registry.get(await me(request))))


@routes.post("/v1/me/phones/code")
async def send_code(request: web.Request) -> web.Response:
    """Send a code to one of my numbers: ``{"number"}`` (SMS to a mobile, a call to a landline)."""
    pid = await me(request)
    data = await read_json_object(request)
    body = await request.app[HUB].verifier.send_code(pid, data.get("number"), client=client_of(request))
    return web.json_response(body, status=200 if body["verified"] else 202)


@routes.post("/v1/me/phones/confirm")
async def confirm_code(request: web.Request) -> web.Response:
    """Prove a number with its code: ``{"number", "code"}``."""
    pid = await me(request)
    data = await read_json_object(request)
    participant = await request.app[HUB].verifier.confirm_code(pid, data.get("number"), data.get("code"))
    return web.json_response(explicit(participant.to_dict()))


@routes.post("/v1/me/email/link")
async def send_email_link(request: web.Request) -> web.Response:
    """Send a link that confirms my e-mail address."""
    pid = await me(request)
    body = await request.app[HUB].verifier.send_email_link(pid, client=client_of(request))
    return web.json_response(body, status=200 if body["verified"] else 202)


CHANGE_FIELDS = ("language", "timezone", "phones", "email", "channels", "addresses", "quiet_hours", "paused_until",
                 "max_actions_per_week")


async def audit_change(hub, pid: str, before: dict, after: dict, actor: str, role: str) -> None:
    """Every change of a participant's choices goes to the audit log: which fields, never their values."""
    changed = [k for k in CHANGE_FIELDS if before.get(k) != after.get(k)]
    if changed:
        await hub.store.add_audit(AuditEntry(actor, role, "participant.update", f"participant:{pid}", {"fields": changed}))


@routes.put("/v1/me")
async def put_me(request: web.Request) -> web.Response:
    """Replace my choices (the participant's JSON form). New or changed contacts are unverified."""
    pid = await me(request)
    hub = request.app[HUB]
    before = await hub.registry.get(pid)
    data = await read_json_object(request)
    participant = await hub.registry.update(pid, data, verified=False)
    after = participant.to_dict()
    await audit_change(hub, pid, before, after, f"participant:{pid}", PARTICIPANT)
    return web.json_response(explicit(after))


@routes.get("/v1/me/actions")
async def my_actions(request: web.Request) -> web.Response:
    """The actions that reached me, newest first, and how they ended."""
    pid = await me(request)
    return web.json_response({"actions": await request.app[HUB].store.actions_reaching(pid)})


@routes.get("/v1/me/export")
async def export(request: web.Request) -> web.Response:
    """Everything the hub keeps about me, as one JSON document."""
    pid = await me(request)
    hub = request.app[HUB]
    store = hub.store
    body = {
        "participant": explicit(await hub.registry.get(pid)),
        "actions": await store.actions_reaching(pid),
        "tips": await store.tips_by(pid),
        "sessions": await store.sessions_of(pid),
        "audit": await store.list_audit(subject=f"participant:{pid}", limit=10_000),
    }
    await store.add_audit(AuditEntry(f"participant:{pid}", PARTICIPANT, "participant.export", f"participant:{pid}"))
    return web.json_response(body, headers={"Content-Disposition": 'attachment; filename="my-data.json"'})


@routes.delete("/v1/me")
async def erase_me(request: web.Request) -> web.Response:
    """Erase me (``?confirm=true``): the same erasure as an operator's, everywhere at once."""
    pid = await me(request)
    if request.query.get("confirm") != "true":
        raise ValidationError("confirm", "erasing cannot be undone: repeat with confirm=true")
    await request.app[HUB].registry.erase(pid, actor=f"participant:{pid}", role=PARTICIPANT)
    return web.Response(status=204)
