"""Provider callbacks whose signature is checked before their body is parsed.

A channel's web route that a provider calls (status callbacks, inbound messages, call scripts) is
wrapped with :func:`signed`: the raw body is read (bounded), the channel's ``verify`` decides from the
request and the raw bytes whether the provider signed it, and only then does the handler see it::

    class Provider:
        def _signature_ok(self, request, body: bytes) -> bool: ...

        @signed(_signature_ok)
        async def status_callback(self, request, body: bytes) -> web.StreamResponse: ...

An unsigned or wrongly signed call is answered ``403`` in the API's error shape and nothing of its
body is parsed, whatever its ``Content-Type`` says. A signed callback is not counted against the
per-client limit of public routes (:mod:`hub.api.guard`): providers send them by the thousand from a
few addresses, and a forger cannot sign.

Helpers for the two signing styles in use: :func:`hub.inbound.form_params` gives the fields a
Twilio-style signature covers (and nothing for a body of another type, so a multipart body simply fails
the signature); a raw-body HMAC (Meta's ``X-Hub-Signature-256``) needs only the bytes.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Awaitable, Callable

from aiohttp import web

from .errors import Forbidden
from .inbound import read_body

#: the attribute a signed handler carries (the API's rate limit skips such routes)
SIGNED_CALLBACK = "__burgerhub_signed_callback__"
#: provider callbacks are small; anything larger is not one
MAX_CALLBACK_BYTES = 256 * 1024

Verify = Callable[[Any, web.Request, bytes], "bool | Awaitable[bool]"]


def signed(verify: Verify, *, limit: int = MAX_CALLBACK_BYTES) -> Callable:
    """Decorate a handler method ``(self, request, body)``: ``verify(self, request, body)`` first."""

    def decorate(handler: Callable[[Any, web.Request, bytes], Awaitable[web.StreamResponse]]) -> Callable:
        @functools.wraps(handler)
        async def wrapper(self: Any, request: web.Request) -> web.StreamResponse:
            body = await read_body(request, limit) if request.method in ("POST", "PUT", "PATCH") else b""
            ok = verify(self, request, body)
            if inspect.isawaitable(ok):
                ok = await ok
            if not ok:
                raise Forbidden("the callback's signature is missing or wrong")
            return await handler(self, request, body)

        setattr(wrapper, SIGNED_CALLBACK, True)
        return wrapper

    return decorate


def signed_in_url(handler: Callable) -> Callable:
    """Mark a handler whose URL carries its own signature (a token the channel verifies first thing),
    such as RFC 8058 one-click unsubscribes that mail providers post in bursts from a few addresses:
    like :func:`signed` routes, it is not counted against the per-client limit of public routes."""
    setattr(handler, SIGNED_CALLBACK, True)
    return handler
