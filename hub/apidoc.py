"""How a channel's web route describes itself in the hub's OpenAPI document (``/v1/openapi.json``).

A channel decorates the handler it returns from ``web_routes()``::

    @documented("Twilio status callback (signed)", responses={204: None, 403: ERROR}, form=True)
    async def _status(self, request): ...

``responses`` maps each status the route answers to its content: ``None`` for no body, a JSON Schema
for a JSON body, or ``{"media/type": schema}`` for others. The hub adds what every route may answer
because of the core (``429`` for public writes, ``413``/``400`` for bodies it cannot read), so the
document lists every status each operation can give, and a fuzzer holds the hub to it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

OPENAPI_ATTRIBUTE = "__burgerhub_openapi__"

#: the JSON error shape of every 4xx answer (``field`` and ``errors`` for bad input)
ERROR: dict[str, Any] = {"$ref": "#/components/schemas/Error"}
HTML = {"text/html": {"type": "string"}}
TEXT = {"text/plain": {"type": "string"}}
XML = {"text/xml": {"type": "string"}}


def documented(
    summary: str,
    *,
    responses: Mapping[int, Any],
    form: bool = False,
    json_body: Mapping[str, Any] | None = None,
    multipart: Mapping[str, Any] | None = None,
    query: Mapping[str, Mapping[str, Any]] | None = None,
    public: bool = True,
) -> Callable:
    """Attach an OpenAPI description to a web route's handler (see the module's docstring).

    ``form``: the body is ``application/x-www-form-urlencoded``; ``json_body``: the JSON Schema of a
    JSON body; ``multipart``: the schema of a ``multipart/form-data`` body; ``query``: query parameters
    and their schemas; ``public``: callable without a token (rate-limited when it writes).
    """

    def decorate(handler: Callable) -> Callable:
        setattr(handler, OPENAPI_ATTRIBUTE, {
            "summary": summary, "responses": dict(responses), "form": form, "json_body": json_body,
            "multipart": multipart, "query": dict(query or {}), "public": public,
        })
        return handler

    return decorate


def description_of(handler: Any) -> dict[str, Any] | None:
    """What :func:`documented` attached to ``handler`` (or to the function a wrapper wraps)."""
    return getattr(handler, OPENAPI_ATTRIBUTE, None)
