"""Turning the error tree into HTTP answers with a reason (and the field, for bad input)."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from ..errors import AuthError, BadMessage, ConfigError, Conflict, Forbidden, HubError, NotFound, ValidationError

log = logging.getLogger("burgerhub.api")


def error_response(status: int, error: str, reason: str, **extra) -> web.Response:
    return web.json_response({"error": error, "reason": reason, **extra}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except ValidationError as e:
        return web.json_response(e.as_dict(), status=422)
    except Forbidden as e:
        return error_response(403, "forbidden", str(e))
    except AuthError as e:
        resp = error_response(401, "unauthorized", str(e))
        resp.headers["WWW-Authenticate"] = 'Bearer realm="burgerhub"'
        return resp
    except NotFound as e:
        return error_response(404, "not_found", str(e))
    except Conflict as e:
        return error_response(409, "conflict", str(e))
    except ConfigError as e:
        return error_response(422, "invalid", str(e))
    except BadMessage as e:
        return error_response(400, "invalid_message", e.reason, field=e.element)
    except HubError as e:
        return error_response(400, "bad_request", str(e))
    except json.JSONDecodeError as e:
        return error_response(400, "invalid_json", f"request body is not valid JSON: {e}")


async def read_json(request: web.Request) -> dict:
    if request.content_type not in ("application/json", ""):
        raise web.HTTPUnsupportedMediaType(
            text=json.dumps({"error": "unsupported_media_type", "reason": "send application/json"}),
            content_type="application/json",
        )
    body = await request.text()
    data = json.loads(body or "null")
    if not isinstance(data, dict):
        raise ValidationError("(root)", "the request body must be a JSON object")
    return data
