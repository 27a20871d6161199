"""``/v1/me``: a citizen signs up, signs in, proves their contacts and manages themselves.

Sign-up and sign-in are by a link sent by e-mail; the link (on the participant page) hands its token
to ``POST /v1/me/link``, which answers with a session token for ``Authorization: Bearer``. The answers
of ``signup`` and ``signin`` are the same whether or not the address is registered. Sending codes and
links is rate-limited (429 with ``Retry-After``). A participant's personal token (from
``POST /v1/participants`` without a token) works here too.
"""

from __future__ import annotations

from aiohttp import web

from ..errors import AuthError
from .auth import PARTICIPANT, require
from .errors import read_json
from .keys import HUB

routes = web.RouteTableDef()

SENT = {
    "status": "accepted",
    "reason": "if this address can be used, a link is on its way; it is valid for a short while and works once",
}


def client_of(request: web.Request) -> str | None:
    """Who asks, for per-client bounds: the peer's network address."""
    return request.remote


async def me(request: web.Request) -> str:
    actor = await require(request, (PARTICIPANT,))
    if actor.participant_id is None:
        raise AuthError("this endpoint needs a participant's token")
    return actor.participant_id


@routes.post("/v1/me/signup")
async def signup(request: web.Request) -> web.Response:
    """Start signing up: ``{"email", "age_confirmed": true, "language"}``; a link follows by e-mail."""
    await request.app[HUB].verifier.sign_up(await read_json(request), client=client_of(request))
    return web.json_response(SENT, status=202)


@routes.post("/v1/me/signin")
async def signin(request: web.Request) -> web.Response:
    """Ask for a sign-in link: ``{"email"}``."""
    await request.app[HUB].verifier.sign_in(await read_json(request), client=client_of(request))
    return web.json_response(SENT, status=202)


@routes.post("/v1/me/link")
async def use_link(request: web.Request) -> web.Response:
    """Use a link from an e-mail once: ``{"token"}``. A sign-up or sign-in answers with a session token."""
    data = await read_json(request)
    return web.json_response(await request.app[HUB].verifier.use_link(data.get("token")))


@routes.post("/v1/me/signout")
async def signout(request: web.Request) -> web.Response:
    await me(request)
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    await request.app[HUB].verifier.close_session(token)
    return web.Response(status=204)


@routes.get("/v1/me")
async def get_me(request: web.Request) -> web.Response:
    return web.json_response(await request.app[HUB].registry.get(await me(request)))


@routes.post("/v1/me/phones/code")
async def send_code(request: web.Request) -> web.Response:
    """Send a code to one of my numbers: ``{"number"}`` (SMS to a mobile, a call to a landline)."""
    pid = await me(request)
    data = await read_json(request)
    body = await request.app[HUB].verifier.send_code(pid, data.get("number"), client=client_of(request))
    return web.json_response(body, status=200 if body["verified"] else 202)


@routes.post("/v1/me/phones/confirm")
async def confirm_code(request: web.Request) -> web.Response:
    """Prove a number with its code: ``{"number", "code"}``."""
    pid = await me(request)
    data = await read_json(request)
    participant = await request.app[HUB].verifier.confirm_code(pid, data.get("number"), data.get("code"))
    return web.json_response(participant.to_dict())


@routes.post("/v1/me/email/link")
async def send_email_link(request: web.Request) -> web.Response:
    """Send a link that confirms my e-mail address."""
    pid = await me(request)
    body = await request.app[HUB].verifier.send_email_link(pid, client=client_of(request))
    return web.json_response(body, status=200 if body["verified"] else 202)
