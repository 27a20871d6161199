"""A loopback Graph API that implements the Send API's documented requests and error responses."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hub.testing import channel_routes_app

PAGE_TOKEN = "EAAG-page-token"
APP_SECRET = "app-secret-0123456789"
VERIFY_TOKEN = "verify-me-please"
PAGE_ID = "104857600"


def graph_error(status: int, code: int, message: str, subcode: int | None = None,
                headers: dict[str, str] | None = None) -> web.Response:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf123"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return web.json_response({"error": error}, status=status, headers=headers)


@dataclass
class FakeGraph:
    """``POST /{version}/me/messages``: checks the token, the proof and the body like the real API.

    ``script[psid]`` is a list of responses (``web.Response``) returned, in order, for that recipient
    before it is accepted normally.
    """

    sent: list[dict[str, Any]] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)
    script: dict[str, list[web.Response]] = field(default_factory=dict)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{version}/me/messages", self.messages)
        app.router.add_get("/cdn/{name}", self.cdn)
        return app

    async def messages(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.queries.append(q)
        if q.get("access_token") != PAGE_TOKEN:
            return graph_error(400, 190, "Invalid OAuth access token.")
        proof = hmac.new(APP_SECRET.encode(), PAGE_TOKEN.encode(), hashlib.sha256).hexdigest()
        if q.get("appsecret_proof") != proof:
            return graph_error(400, 100, "Invalid appsecret_proof provided in the API argument")
        if not request.match_info["version"].startswith("v"):
            return graph_error(400, 2500, "Unknown path components")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return graph_error(400, 100, "Invalid JSON")
        psid = (body.get("recipient") or {}).get("id")
        if not psid:
            return graph_error(400, 100, "(#100) The parameter recipient is required")
        if body.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            return graph_error(400, 100, "(#100) Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
        if body["messaging_type"] == "MESSAGE_TAG" and not body.get("tag"):
            return graph_error(400, 100, "(#100) Tag is required for MESSAGE_TAG type")
        text = (body.get("message") or {}).get("text")
        if not isinstance(text, str) or not text or len(text) > 2000:
            return graph_error(400, 100, "(#100) Length of param message[text] must be less than or equal to 2000")
        if self.script.get(psid):
            return self.script[psid].pop(0)
        self.sent.append(body)
        return web.json_response({"recipient_id": psid, "message_id": f"m_{len(self.sent):04d}"})

    async def cdn(self, request: web.Request) -> web.Response:
        data, ctype = self.files[request.match_info["name"]]
        return web.Response(body=data, content_type=ctype)

    def texts_to(self, psid: str) -> list[str]:
        return [b["message"]["text"] for b in self.sent if b["recipient"]["id"] == psid]


def signed(body: dict[str, Any] | bytes, secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sig = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Hub-Signature-256": f"sha256={sig}", "Content-Type": "application/json"}


def message_event(psid: str, text: str | None = None, *, attachments: list | None = None,
                  timestamp: int | None = None, echo: bool = False) -> dict[str, Any]:
    message: dict[str, Any] = {"mid": f"mid.{psid}.{abs(hash(text)) % 10_000}"}
    if text is not None:
        message["text"] = text
    if attachments:
        message["attachments"] = attachments
    if echo:
        message["is_echo"] = True
    event = {"sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "message": message}
    if timestamp is not None:
        event["timestamp"] = timestamp
    return {"object": "page", "entry": [{"id": PAGE_ID, "time": 1700000000000, "messaging": [event]}]}


def mounted(routes) -> web.Application:
    return channel_routes_app("messenger", routes)


PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
