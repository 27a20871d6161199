"""The OpenAPI 3.1 document, built from the live router, the JSON Schemas in ``schemas/`` and what each
channel's routes say of themselves (:mod:`hub.apidoc`).

Every operation lists every status it answers, each with its content and schema: its successes, and
the errors the core gives it by what it is (a token it needs: 401/403; a body: 400/413/415/422; a path
id: 404; query parameters: 422; a write a client may make without a staff token: 429 with
``Retry-After``). The test suite fuzzes the served document with each role's token and none and holds
the hub to it: no 5xx, no status or content type the document does not list, no body off its schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from aiohttp import web

from .. import __version__
from ..apidoc import ERROR, description_of
from ..models import ActionType, Domain, Urgency
from ..schemas import validator

JSON = "application/json"
ANONYMOUS = "anonymous"


def _obj(required: tuple[str, ...] = (), **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": properties}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_STR, _INT, _BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
_NSTR = {"type": ["string", "null"]}
_NINT = {"type": ["integer", "null"]}
_LIST = {"type": "array", "items": {"type": "object"}}

#: response bodies, by component name
COMPONENTS: dict[str, Any] = {
    "Error": _obj(
        ("error", "reason"),
        error=_STR, reason=_STR, field=_STR,
        errors={"type": "array", "items": _obj(("field", "reason"), field=_STR, reason=_STR)},
    ),
    "Action": _obj(
        ("id", "type", "urgency", "domain", "status", "description", "area", "version"),
        id=_STR, type={"enum": [t.value for t in ActionType]}, urgency={"enum": [u.value for u in Urgency]},
        domain={"enum": [d.value for d in Domain]}, status={"enum": ["active", "ended"]}, title=_NSTR,
        description=_STR, subject=_STR, area={"type": "object"}, region=_NSTR, photos=_LIST, result=_NSTR,
        result_text=_NSTR, callback_number=_NSTR, version=_INT, started_at=_NSTR, ended_at=_NSTR,
        expires_at=_NSTR, counts={"type": "object"}, route={"type": "object"}, audience={"type": "object"},
    ),
    "Route": _obj(
        ("routes", "channels", "bypass_quiet_hours"),
        routes={"type": "array", "items": _STR}, channels={"type": "array", "items": _STR},
        bypass_quiet_hours=_BOOL, applied=_LIST, trace={"type": "array", "items": _STR},
    ),
    "Plan": _obj(("route",), route={"$ref": "#/components/schemas/Route"}, audience={"type": "object"}),
    "Tip": _obj(("id", "action_id", "text", "channel", "has_photo"), id=_INT, action_id=_STR, text=_STR,
                channel=_STR, participant_id=_NSTR, sender=_NSTR, has_photo=_BOOL, photo_type=_NSTR,
                created_at={"type": ["number", "string"]}, photo_url=_STR),
    "Participant": _obj(("id",), id=_STR, language=_STR, channels={"type": "array"}, phones=_LIST,
                        addresses=_LIST),
}

IMAGE = {k: {"type": "string", "format": "binary"} for k in ("image/jpeg", "image/png", "image/webp", "image/gif", "image/heic")}
#: one server-sent event: ``action`` (the action with counts) or ``tip`` (a tip, with its id), JSON in ``data``
EVENT_STREAM = {"text/event-stream": {
    "type": "object", "required": ["event", "data"],
    "properties": {"event": {"enum": ["action", "tip"]}, "data": {"type": "string", "contentMediaType": "application/json"},
                   "id": {"type": "string", "pattern": "^[0-9]+$"}, "retry": {"type": "integer"}},
}}
TEXT = {"text/plain": {"type": "string"}}


@dataclass(frozen=True)
class Op:
    """One API operation: what it does, who may call it, its body, its answers and its query."""

    summary: str
    roles: tuple[str, ...]
    body: str | None
    #: success status -> content: a JSON Schema (for application/json), a {media type: schema}, or None
    responses: Mapping[int, Any]
    #: errors this operation gives beyond the ones the core adds by its shape
    errors: tuple[int, ...] = ()
    query: Mapping[str, Any] = field(default_factory=dict)


def as_op(meta: "Op | tuple") -> Op:
    """An :class:`Op`; a plain ``(summary, roles, body, success status)`` tuple is read as one whose
    success answers a JSON object and that may also answer 409."""
    if isinstance(meta, Op):
        return meta
    summary, roles, body, status = meta
    return Op(summary, tuple(roles), body, {status: None if status == 204 else {"type": "object"}}, (409,))


READERS = ("dispatcher", "operator")
_LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000}
_FLAG = {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}
_SELF = ("operator", "participant (self)")

#: what the participant's own routes may answer beyond their success (their bodies are read by the route)
_ME_ERRORS = (400, 404, 409, 413, 415, 422)

#: the query of the evaluation's routes: a period and its filters
_PERIOD = {key: _STR for key in ("from", "to", "region", "municipality", "type", "urgency", "organisation")}
_PERIOD["lang"] = {"type": "string", "enum": ["nl", "en"]}  # the words of tables and charts; default nl

#: the answer of a rules change
_RULES_LOADED = _obj(("status", "source", "version", "sha256"), status=_STR, source=_STR, version=_NINT, sha256=_STR)

OPERATIONS: dict[tuple[str, str], Op | tuple] = {
    ("GET", "/v1/health"): Op("Liveness and channel status", (), None, {
        200: _obj(("status", "channels"), status={"enum": ["ok"]}, channels={"type": "object"}),
        503: _obj(("status", "channels"), status={"enum": ["starting"]}, channels={"type": "object"}),
    }),
    ("GET", "/v1/metrics"): Op("Prometheus metrics", (), None, {200: TEXT}),
    ("GET", "/v1/openapi.json"): Op("This document", (), None, {200: {"type": "object"}}),
    ("POST", "/v1/actions"): Op("Start an action (`?dry_run=true` plans it without sending)", ("dispatcher",),
                                "action.start", {201: _ref("Action"), 200: _ref("Plan")}, (409,), {"dry_run": _FLAG}),
    ("GET", "/v1/actions"): Op("List actions (`?status=active|ended`)", READERS, None,
                               {200: _obj(("actions",), actions={"type": "array", "items": _ref("Action")})}, (),
                               {"status": {"enum": ["active", "ended"]}, "limit": _LIMIT}),
    ("GET", "/v1/actions/{id}"): Op("An action with live delivery counts", READERS, None, {200: _ref("Action")}),
    ("PATCH", "/v1/actions/{id}"): Op("Update an action's description, photos or area", ("dispatcher",),
                                      "action.update", {200: _ref("Action")}, (409,)),
    ("POST", "/v1/actions/{id}/end"): Op("End an action; the closing message goes to everyone reached", ("dispatcher",),
                                         "action.end", {200: _ref("Action")}, (409,)),
    ("GET", "/v1/actions/{id}/deliveries"): Op("The action's ledger rows in id order, a page at a time: pass the "
                                               "answer's `next_after` as `after` for the next page (null: the last)",
                                               READERS, None,
                                               {200: _obj(("deliveries", "next_after"), deliveries=_LIST,
                                                          next_after=_NINT)}, (),
                                               {"after": {"type": "integer", "minimum": 0},
                                                "limit": {"type": "integer", "minimum": 1, "maximum": 5000}}),
    ("GET", "/v1/actions/{id}/audit"): Op("The action's audit trail", READERS, None, {200: _obj(("audit",), audit=_LIST)}),
    ("POST", "/v1/actions/{id}/tips"): Op("Send a tip (JSON, or multipart with a photo)",
                                          ("participant", "dispatcher", ANONYMOUS), "tip",
                                          {201: _obj(("id", "action_id"), id=_INT, action_id=_STR)}, (404, 409)),
    ("GET", "/v1/actions/{id}/tips"): Op("Tips, newest first", READERS, None,
                                         {200: _obj(("tips",), tips={"type": "array", "items": _ref("Tip")})}),
    ("GET", "/v1/actions/{id}/tips/{tip}/photo"): Op("A tip's photo", READERS, None, {200: IMAGE}),
    ("GET", "/v1/actions/{id}/events"): Op("Server-sent events: live counts and tips", READERS, None,
                                           {200: EVENT_STREAM}, (),
                                           {"after": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                                            "max_seconds": {"type": "integer", "minimum": 0, "maximum": 86400}}),
    ("POST", "/v1/participants"): Op("Register (yourself without a token, anyone as operator)", ("operator", ANONYMOUS),
                                     "participant", {201: _obj(("participant",), participant=_ref("Participant"),
                                                               token=_STR)}, (409,)),
    ("GET", "/v1/participants/{id}"): Op("A participant", _SELF, None, {200: _ref("Participant")}),
    ("PUT", "/v1/participants/{id}"): Op("Replace a participant's data", _SELF, "participant",
                                         {200: _ref("Participant")}, (409,)),
    ("DELETE", "/v1/participants/{id}"): Op("Erase a participant and all their personal data", _SELF, None, {204: None}),
    ("POST", "/v1/participants/import"): Op("Bulk import from CSV", ("operator",), "text/csv",
                                            {200: {"type": "object"}, 207: {"type": "object"}}),
    ("POST", "/v1/me/signup"): Op("Sign up: a link by e-mail (same answer for known addresses)", ("anonymous",), None, {202: {"type": "object"}}, _ME_ERRORS),
    ("POST", "/v1/me/signin"): Op("Ask for a sign-in link by e-mail (same answer for unknown addresses)", ("anonymous",), None, {202: {"type": "object"}}, _ME_ERRORS),
    ("POST", "/v1/me/link"): Op("Use a link from an e-mail once; sign-up and sign-in answer with a session token", ("anonymous",), None, {200: {"type": "object"}}, _ME_ERRORS),
    ("POST", "/v1/me/signout"): Op("End this session", ("participant",), None, {204: None}, _ME_ERRORS),
    ("GET", "/v1/me"): Op("My data", ("participant",), None, {200: {"type": "object"}}, _ME_ERRORS),
    ("PUT", "/v1/me"): Op("Replace my choices; new or changed contacts are unverified", ("participant",), "participant", {200: {"type": "object"}}, _ME_ERRORS),
    ("DELETE", "/v1/me"): Op("Erase me (`?confirm=true`)", ("participant",), None, {204: None}, _ME_ERRORS, {"confirm": _FLAG}),
    ("POST", "/v1/me/phones/code"): Op("Send a code to one of my numbers (SMS, or a call to a landline)", ("participant",), None, {202: {"type": "object"}}, _ME_ERRORS),
    ("POST", "/v1/me/phones/confirm"): Op("Prove a number with its code", ("participant",), None, {200: {"type": "object"}}, _ME_ERRORS),
    ("POST", "/v1/me/email/link"): Op("Send a link that confirms my e-mail address", ("participant",), None, {202: {"type": "object"}}, _ME_ERRORS),
    ("GET", "/v1/me/actions"): Op("The actions that reached me and how they ended", ("participant",), None, {200: {"type": "object"}}, _ME_ERRORS),
    ("GET", "/v1/me/export"): Op("Everything kept about me, as JSON", ("participant",), None, {200: {"type": "object"}}, _ME_ERRORS),
    ("POST", "/v1/cap"): Op("A CAP 1.2 alert: Alert starts, Update updates, Cancel ends an action", ("dispatcher",),
                            "application/cap+xml", {201: {"type": "object"}, 200: {"type": "object"}}, _ME_ERRORS),
    ("GET", "/v1/actions/{id}/cap"): Op("The action as its latest CAP 1.2 message", READERS, None,
                                        {200: {"application/cap+xml": {"type": "string"}}}),
    ("GET", "/v1/organisations"): Op("Organisations (an organisation's people see their own)", READERS, None,
                                     {200: {"type": "object"}}),
    ("GET", "/v1/organisations/{id}"): Op("One organisation", READERS, None, {200: {"type": "object"}}),
    ("PUT", "/v1/organisations/{id}"): Op("Add or replace an organisation (national operator)", ("operator",),
                                          "organisation", {200: {"type": "object"}}, _ME_ERRORS),
    ("GET", "/v1/organisations/{id}/tokens"): Op("Its people's tokens, never the tokens themselves (national operator)",
                                                 ("operator",), None, {200: {"type": "object"}}),
    ("POST", "/v1/organisations/{id}/tokens"): Op("A token for one person, shown once (national operator)", ("operator",),
                                                  None, {201: {"type": "object"}}, _ME_ERRORS),
    ("DELETE", "/v1/organisations/{id}/tokens/{token}"): Op("Revoke a token (national operator)", ("operator",), None,
                                                            {200: {"type": "object"}}, _ME_ERRORS),
    ("GET", "/v1/public-policies"): Op("What the public overview shows per action type", READERS, None,
                                       {200: {"type": "object"}}),
    ("PUT", "/v1/public-policies/{type}"): Op("Change what the public overview shows of one action type", ("operator",),
                                              "public-policy", {200: {"type": "object"}}, _ME_ERRORS),
    ("POST", "/v1/actions/{id}/phone-tips"): Op("Log a tip that came in by telephone on the call-back line",
                                                ("dispatcher",), "tip.phone",
                                                {201: {"type": "object"}}, (404, 409)),
    ("GET", "/v1/evaluation"): Op("A period's figures, tables and charts", READERS, None,
                                  {200: {"type": "object"}}, (), _PERIOD),
    ("GET", "/v1/evaluation/tables/{name}.csv"): Op("One evaluation table as CSV (same query)", READERS, None,
                                                    {200: {"text/csv": {"type": "string"}}}, (404,), _PERIOD),
    ("GET", "/v1/evaluation/report.html"): Op("The self-contained HTML evaluation report (same query)", READERS, None,
                                              {200: {"text/html": {"type": "string"}}}, (), _PERIOD),
    ("GET", "/v1/routes"): Op("The routing rules in force (`version`: the cluster's stored version on "
                              "PostgreSQL, null on SQLite)", ("operator", "dispatcher"), None,
                              {200: _obj(("source", "rules", "version", "sha256"), source=_STR, rules=_STR,
                                         version=_NINT, sha256=_STR)}),
    ("PUT", "/v1/routes"): Op("Replace the routing rules (YAML) and save them over the rules file (`saved_to`); "
                              "refused with the reason if invalid, or if they leave an action type and urgency "
                              "without any channel unless `?allow_gaps=true`; answers the diff and warnings. "
                              "On PostgreSQL they become the version every hub of the cluster puts in force",
                              ("operator",), "application/yaml", {200: _RULES_LOADED}, (), {"allow_gaps": _FLAG}),
    ("POST", "/v1/routes/reload"): Op("Re-read the routing rules from their file, as SIGHUP does; answers the "
                                      "diff and warnings. On PostgreSQL they become the version every hub of the "
                                      "cluster puts in force", ("operator",), None, {200: _RULES_LOADED}, (),
                                      {"allow_gaps": _FLAG}),
    ("POST", "/v1/routes/test"): Op("Where an action would go, and with an area how many it reaches",
                                    ("operator", "dispatcher"), "routes.test",
                                    {200: _ref("Plan")}),
    ("GET", "/v1/channels"): Op("Installed channels and their mode", ("operator", "dispatcher"), None,
                                {200: _obj(("channels",), channels={"type": "object"})}),
    ("GET", "/v1/sandbox/outbox"): Op("Messages sandboxed channels would have sent", ("operator", "dispatcher"), None,
                                      {200: _obj(("sandbox", "messages"), sandbox=_BOOL, messages=_LIST)}, (),
                                      {"limit": _LIMIT, "channel": _STR, "action_id": _STR}),
    ("GET", "/v1/audit"): Op("The audit log", ("operator",), None, {200: _obj(("audit",), audit=_LIST)}, (),
                             {"subject": _STR}),
    ("POST", "/v1/photos"): Op("Upload a photo for an action (JPEG, PNG or WebP; the bytes must be what the "
                               "type says)", ("dispatcher",), "image", {201: _obj(("url",), url=_STR)}),
    ("GET", "/v1/photos/{name}"): Op("A photo attached to an action (public while the action runs; 410 for "
                                     "the public from 10 minutes after every action showing it has ended, while a "
                                     "dispatcher's or operator's token still gets it)", (), None, {200: IMAGE},
                                     (410,)),
}

#: request bodies that are not in ``schemas/``
ROUTES_TEST = _obj(
    ("type", "urgency"),
    type={"enum": [t.value for t in ActionType]}, urgency={"enum": [u.value for u in Urgency]},
    region={"type": "string"}, domain={"enum": [d.value for d in Domain]}, area={"type": "object"},
)
ERROR_TEXT = {
    400: "The body cannot be read (not UTF-8, not JSON, nested too deep, a broken multipart)",
    401: "No or unknown bearer token",
    403: "The token's role may not do this (or a callback's signature is wrong)",
    404: "Not found",
    409: "Not possible in the current state",
    410: "Gone: no longer served",
    413: "The body, or a part of it, is too large",
    415: "The body's type is not one this operation takes",
    422: "Invalid input: `field` names it, `reason` says why",
    429: "Too many requests from this client: try again after `Retry-After` seconds",
}


def openapi_document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = dict(COMPONENTS)
    for path, method, handler in _operations(app):
        meta = OPERATIONS.get((method, path))
        if meta is not None:
            op = _api_operation(method, path, as_op(meta), schemas)
        else:
            op = _channel_operation(method, path, description_of(handler))
        params = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for p in re.findall(r"{(\w+)}", path)
        ]
        params += op.pop("_query", [])
        if params:
            op["parameters"] = params
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "burgerhub", "version": __version__,
                 "description": "Multi-channel alert hub for citizen-participation networks."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
    }


def _api_operation(method: str, path: str, meta: Op, schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": meta.summary, "description": "Roles: " + (", ".join(meta.roles) or "public")}
    if meta.roles:
        op["security"] = [{"bearer": []}] + ([{}] if ANONYMOUS in meta.roles else [])
    body = meta.body
    if body == "image":
        op["requestBody"] = {"required": True, "content": {t: {"schema": IMAGE[t]} for t in ("image/jpeg", "image/png", "image/webp")}}
    elif body and "/" in body:
        op["requestBody"] = {"required": True, "content": {body: {"schema": {"type": "string"}}}}
    elif body == "routes.test":
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": ROUTES_TEST}}}
    elif body:
        name = body.replace(".", "_")
        schemas[name] = _component(validator(body).schema)
        content: dict[str, Any] = {JSON: {"schema": _ref(name)}}
        if body == "tip":
            content["multipart/form-data"] = {"schema": _obj(
                ("text",), text={"type": "string"}, sender={"type": "string"},
                photo={"type": "string", "format": "binary"})}
        op["requestBody"] = {"required": True, "content": content}
    responses = {status: _response("Success", content) for status, content in meta.responses.items()}
    errors = set(meta.errors)
    if meta.roles:
        errors |= {401, 403}
    if body:
        errors |= {400, 413, 415, 422}
    if "{" in path:
        errors.add(404)
    if meta.query:
        errors.add(422)
    if method not in ("GET", "HEAD", "OPTIONS"):
        errors.add(429)
    for status in sorted(errors):
        responses[status] = _error_response(status)
    op["responses"] = {str(k): v for k, v in sorted(responses.items())}
    op["_query"] = [{"name": k, "in": "query", "required": False, "schema": v} for k, v in meta.query.items()]
    return op


def _channel_operation(method: str, path: str, doc: dict[str, Any] | None) -> dict[str, Any]:
    if doc is None:  # a third party's route that does not describe itself
        return {"summary": "Channel plugin endpoint (see the channel's documentation)",
                "responses": {"default": {"description": "See the channel's documentation"}}}
    op: dict[str, Any] = {"summary": doc["summary"], "description": "Channel route: callbacks, webhooks, forms"}
    responses: dict[int, Any] = {}
    for status, content in doc["responses"].items():
        responses[status] = _error_response(status) if content == ERROR else _response(
            "Success" if status < 400 else ERROR_TEXT.get(status, "Error"), content)
    if method in ("GET", "HEAD"):
        pass
    elif doc["form"]:
        op["requestBody"] = {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}
    elif doc["json_body"] is not None:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": doc["json_body"]}}}
    elif doc["multipart"] is not None:
        op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": doc["multipart"]}}}
    extra = set()
    if "requestBody" in op:
        extra |= {400, 413, 415}
    if doc["public"] and method not in ("GET", "HEAD", "OPTIONS"):
        extra.add(429)
    if "{" in path:
        extra.add(404)
    for status in extra - set(responses):
        responses[status] = _error_response(status)
    op["responses"] = {str(k): v for k, v in sorted(responses.items())}
    op["_query"] = [{"name": k, "in": "query", "required": False, "schema": v} for k, v in doc["query"].items()]
    return op


def _response(description: str, content: Any) -> dict[str, Any]:
    if content is None:
        return {"description": description}
    if isinstance(content, dict) and content and all("/" in k for k in content):
        return {"description": description, "content": {t: {"schema": s} for t, s in content.items()}}
    return {"description": description, "content": {JSON: {"schema": content}}}


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": ERROR_TEXT.get(status, "Error"),
                                "content": {JSON: {"schema": _ref("Error")}}}
    if status == 429:
        response["headers"] = {"Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
    return response


def _operations(app: web.Application) -> list[tuple[str, str, Any]]:
    """(path, method, handler) of every API route under ``/v1/``; the router's view includes channels' sub-apps."""
    return [
        (route.resource.canonical, route.method, route.handler)
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/v1/")  # the console and other extensions are not the API
        and route.method not in ("HEAD", "*")
    ]


def _component(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline cross-file ``$ref``s so the document stands alone."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.endswith(".schema.json"):
                return walk(validator(ref.removesuffix(".schema.json")).schema)
            return {k: walk(v) for k, v in node.items() if k not in ("$schema", "$id")}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)
