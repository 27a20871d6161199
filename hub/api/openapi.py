"""The OpenAPI 3.1 document, built from the live router and the JSON Schemas in ``schemas/``."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from .. import __version__
from ..schemas import validator

# (method, path) -> (summary, roles, request schema or media type, success status)
OPERATIONS: dict[tuple[str, str], tuple[str, tuple[str, ...], str | None, int]] = {
    ("GET", "/v1/health"): ("Liveness and channel status", (), None, 200),
    ("GET", "/v1/metrics"): ("Prometheus metrics", (), None, 200),
    ("GET", "/v1/openapi.json"): ("This document", (), None, 200),
    ("POST", "/v1/actions"): ("Start an action (`?dry_run=true` plans it without sending)", ("dispatcher",), "action.start", 201),
    ("GET", "/v1/actions"): ("List actions (`?status=active|ended`)", ("dispatcher", "operator"), None, 200),
    ("GET", "/v1/actions/{id}"): ("An action with live delivery counts", ("dispatcher", "operator"), None, 200),
    ("PATCH", "/v1/actions/{id}"): ("Update an action's description, photos or area", ("dispatcher",), "action.update", 200),
    ("POST", "/v1/actions/{id}/end"): ("End an action; the closing message goes to everyone reached", ("dispatcher",), "action.end", 200),
    ("GET", "/v1/actions/{id}/deliveries"): ("The action's ledger rows", ("dispatcher", "operator"), None, 200),
    ("GET", "/v1/actions/{id}/audit"): ("The action's audit trail", ("dispatcher", "operator"), None, 200),
    ("POST", "/v1/actions/{id}/tips"): ("Send a tip (JSON, or multipart with a photo)", ("participant", "dispatcher", "anonymous"), "tip", 201),
    ("GET", "/v1/actions/{id}/tips"): ("Tips, newest first", ("dispatcher", "operator"), None, 200),
    ("GET", "/v1/actions/{id}/tips/{tip}/photo"): ("A tip's photo", ("dispatcher", "operator"), None, 200),
    ("GET", "/v1/actions/{id}/events"): ("Server-sent events: live counts and tips", ("dispatcher", "operator"), None, 200),
    ("POST", "/v1/participants"): ("Register (yourself without a token, anyone as operator)", ("operator", "anonymous"), "participant", 201),
    ("GET", "/v1/participants/{id}"): ("A participant", ("operator", "participant (self)"), None, 200),
    ("PUT", "/v1/participants/{id}"): ("Replace a participant's data", ("operator", "participant (self)"), "participant", 200),
    ("DELETE", "/v1/participants/{id}"): ("Erase a participant and all their personal data", ("operator", "participant (self)"), None, 204),
    ("POST", "/v1/participants/import"): ("Bulk import from CSV", ("operator",), "text/csv", 200),
    ("GET", "/v1/routes"): ("The routing rules in force", ("operator", "dispatcher"), None, 200),
    ("PUT", "/v1/routes"): ("Replace the routing rules (YAML); refused with the reason if invalid", ("operator",), "application/yaml", 200),
    ("POST", "/v1/routes/test"): ("Where an action would go, and with an area how many it reaches", ("operator", "dispatcher"), None, 200),
    ("GET", "/v1/channels"): ("Installed channels and their mode", ("operator", "dispatcher"), None, 200),
    ("GET", "/v1/sandbox/outbox"): ("Messages sandboxed channels would have sent", ("operator", "dispatcher"), None, 200),
    ("GET", "/v1/audit"): ("The audit log", ("operator",), None, 200),
    ("POST", "/v1/photos"): ("Upload a photo for an action", ("dispatcher",), "image/jpeg", 201),
    ("GET", "/v1/photos/{name}"): ("A photo attached to an action (public)", (), None, 200),
    ("POST", "/v1/actions/{id}/phone-tips"): ("Log a tip that came in by telephone on the call-back line", ("dispatcher",), "tip.phone", 201),
    ("GET", "/v1/evaluation"): ("A period's figures, tables and charts (`?from&to&region&municipality&type&urgency&organisation`)", ("dispatcher", "operator"), None, 200),
    ("GET", "/v1/evaluation/tables/{name}.csv"): ("One evaluation table as CSV (same query)", ("dispatcher", "operator"), None, 200),
    ("GET", "/v1/evaluation/report.html"): ("The self-contained HTML evaluation report (same query)", ("dispatcher", "operator"), None, 200),
}

ERRORS = {
    "400": "Malformed request",
    "401": "No or unknown bearer token",
    "403": "The token's role may not do this",
    "404": "Not found",
    "409": "Not possible in the current state",
    "422": "Invalid input: `field` names it, `reason` says why",
}


def openapi_document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for path, method in _operations(app):
        meta = OPERATIONS.get((method, path))
        op: dict[str, Any] = {"responses": {}}
        if meta:
            summary, roles, body, status = meta
            op["summary"] = summary
            op["description"] = "Roles: " + (", ".join(roles) if roles else "public")
            if roles:
                op["security"] = [{"bearer": []}]
            if body and "/" in body:
                op["requestBody"] = {"content": {body: {"schema": {"type": "string"}}}}
            elif body:
                name = body.replace(".", "_")
                schemas[name] = _component(validator(body).schema)
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                }
            op["responses"][str(status)] = {"description": "Success"}
            if roles:
                op["responses"].update({k: {"description": v} for k, v in ERRORS.items()})
        else:
            op["summary"] = "Channel plugin endpoint (callbacks, webhooks, forms)"
            op["responses"]["200"] = {"description": "See the channel's documentation"}
        params = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in re.findall(r"{(\w+)}", path)
        ]
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


def _operations(app: web.Application) -> list[tuple[str, str]]:
    """(path, method) of every API route under ``/v1/``; the router's view includes channels' sub-apps."""
    return [
        (route.resource.canonical, route.method)
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
