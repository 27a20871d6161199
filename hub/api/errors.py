"""Turning the error tree into HTTP answers with a reason (and the field, for bad input).

Every answer under ``/v1/`` that is not a success has the same JSON shape: ``{"error", "reason"}``,
plus ``field`` and ``errors`` for bad input. That holds for the hub's own errors, for aiohttp's (an
unknown path, a method a path does not take, a body past the size limit) and for anything unexpected,
which is logged and answered with a 500 in the same shape.

One kind of answer is not in this shape: a request aiohttp cannot parse at all (a malformed request
line, a header line past 8,190 bytes, an unknown HTTP version) gets aiohttp's own plain-text 400.
aiohttp answers it in its connection handler (``RequestHandler.handle_error``, called from
``_make_error_handler``) before the request has a path or an application: no middleware and no
``on_response_prepare`` signal sees it. aiohttp (3.14) has no public hook for it; the handler class
is fixed inside ``web.Server``, which ``Application`` builds privately, so changing it would mean
subclassing private parts that change between releases. Such a request is no API call (no client
library sends one), and a reverse proxy in front answers it before the hub.
"""

from __future__ import annotations

import logging
import math

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..errors import (
    AuthError,
    BadMessage,
    ConfigError,
    Conflict,
    Forbidden,
    Gone,
    HubError,
    MalformedInput,
    NotFound,
    RateLimited,
    TooLarge,
    UnsupportedMedia,
    ValidationError,
)

log = logging.getLogger("burgerhub.api")

#: aiohttp's own errors, by status: the ``error`` word of the JSON shape
HTTP_ERRORS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
}


def error_response(status: int, error: str, reason: str, **extra) -> web.Response:
    return web.json_response({"error": error, "reason": reason, **extra}, status=status)


def _validation(e: ValidationError, status: int, error: str) -> web.Response:
    return web.json_response({**e.as_dict(), "error": error}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400 or not request.path.startswith("/v1/") or e.content_type == "application/json":
            raise
        return _http_error(e)
    except MalformedInput as e:
        return _validation(e, 400, getattr(e, "code", "malformed"))
    except UnsupportedMedia as e:
        return _validation(e, 415, "unsupported_media_type")
    except TooLarge as e:
        return _validation(e, 413, "too_large")
    except ValidationError as e:
        return web.json_response(e.as_dict(), status=422)
    except Forbidden as e:
        return error_response(403, "forbidden", str(e))
    except AuthError as e:
        resp = error_response(401, "unauthorized", str(e))
        resp.headers["WWW-Authenticate"] = 'Bearer realm="burgerhub"'
        return resp
    except Gone as e:
        return error_response(410, "gone", str(e))
    except NotFound as e:
        return error_response(404, "not_found", str(e))
    except Conflict as e:
        return error_response(409, "conflict", str(e))
    except RateLimited as e:
        retry = max(1, math.ceil(e.retry_after))
        resp = error_response(429, "too_many_requests", e.reason, retry_after=retry)
        resp.headers["Retry-After"] = str(retry)
        return resp
    except ConfigError as e:
        return error_response(422, "invalid", str(e))
    except BadMessage as e:
        return error_response(400, "invalid_message", e.reason, field=e.element)
    except HubError as e:
        return error_response(400, "bad_request", str(e))
    except HttpProcessingError as e:  # aiohttp could not read the body (e.g. a broken multipart part)
        return error_response(400, "bad_request", f"the request cannot be read: {e.message}")
    except ConnectionError:
        raise  # the client went away: nobody to answer
    except Exception:
        if not request.path.startswith("/v1/"):
            raise
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return error_response(500, "internal", "the hub failed to answer; the cause is in its log")


def _http_error(e: web.HTTPException) -> web.Response:
    reason = e.text if e.text and not e.text.startswith(f"{e.status}:") else e.reason
    resp = error_response(e.status, HTTP_ERRORS.get(e.status, "error"), reason or e.reason)
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        if header in e.headers:
            resp.headers[header] = e.headers[header]
    return resp

