"""The console's routes: the page and its assets, its config, and the ticketed event stream.

Everything the page does to actions goes through the ordinary ``/v1`` API with the user's bearer token,
so roles are enforced in one place. The few routes here exist because a browser needs them:

* the page itself, sent with a strict Content-Security-Policy (scripts, styles and data from the hub
  only; images also from the tile server when one is configured);
* ``config.json``, which the page reads at load (no secrets in it);
* ``api/me``, so the page can say who is signed in and with which role;
* a ticketed copy of ``GET /v1/actions/{id}/events``, because ``EventSource`` cannot send headers
  (see :mod:`hub.console.tickets`). Besides the action with its live counts it sends each tip in full,
  so the page needs no extra request per tip. It checks every half second whether the client went
  away and ends with the app, so a closed tab or a stopping hub never keeps it running.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ..errors import AuthError, ConfigError
from ..geo import DEFAULT_RADIUS_M
from ..models import RESULTS_BY_TYPE, ActionType, Result, TransportMode, Urgency
from .tickets import TicketSigner

STATIC = Path(__file__).parent / "static"
CONTENT_TYPES = {".js": "text/javascript", ".geojson": "application/geo+json", ".json": "application/json"}


@dataclass(frozen=True)
class ConsoleSettings:
    """How the console is served. An instance is the ``web_extensions`` callable that mounts it."""

    tiles_url: str | None = None
    tiles_attribution: str = ""
    #: extra ``img-src`` origin for the tiles, derived from ``tiles_url``
    tiles_origin: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if not self.tiles_url:
            return
        parts = urlsplit(self.tiles_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"console tiles_url: must be an http(s) URL, got {self.tiles_url!r}")
        for placeholder in ("{z}", "{x}", "{y}"):
            if placeholder not in self.tiles_url:
                raise ConfigError(f"console tiles_url: must contain {placeholder}")
        object.__setattr__(self, "tiles_origin", tiles_origin(self.tiles_url))

    def __call__(self, app: web.Application) -> None:
        mount(app, self)


def tiles_origin(tiles_url: str) -> str:
    """The origin a tile URL template loads images from (``{s}.`` subdomains become a wildcard)."""
    parts = urlsplit(tiles_url)
    host = parts.netloc.split("@")[-1]
    if host.startswith("{s}."):
        host = "*." + host[4:]
    return f"{parts.scheme}://{host}"


SIGNER = web.AppKey("console_signer", TicketSigner)
SETTINGS = web.AppKey("console_settings", ConsoleSettings)


def mount(app: web.Application, settings: ConsoleSettings) -> None:
    """Add the console's routes to the hub's web app (built by :func:`hub.api.create_app`)."""
    from ..api.keys import HUB

    app[SETTINGS] = settings
    app[SIGNER] = TicketSigner(app[HUB].secret, spend=app[HUB].store.spend_once)
    app.router.add_get("/console", _to_slash)
    app.router.add_get("/console/config.json", config)
    app.router.add_get("/console/api/me", me)
    app.router.add_post("/console/api/actions/{id}/ticket", ticket)
    app.router.add_get("/console/api/actions/{id}/events", events)
    app.router.add_get("/console/{path:.*}", asset)


def security_headers(settings: ConsoleSettings) -> dict[str, str]:
    return page_headers(settings.tiles_origin)


def page_headers(images_from: str | None, *, workers: bool = False) -> dict[str, str]:
    """The headers of a page served by the hub: everything from the hub itself, images also from
    ``images_from`` (a tile server) and, with ``workers``, a service worker."""
    images = "'self' data: blob:" + (f" {images_from}" if images_from else "")
    return {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            f"img-src {images}; font-src 'self'; manifest-src 'self'; "
            + ("worker-src 'self'; " if workers else "")
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


async def _to_slash(request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect("/console/")


async def asset(request: web.Request) -> web.StreamResponse:
    """A file under ``static/``; the empty path is the page. Nothing outside ``static/`` is reachable."""
    rel = request.match_info["path"] or "index.html"
    path = static_file(STATIC, rel)
    ctype = CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = security_headers(request.app[SETTINGS])
    headers["Content-Type"] = ctype
    # the page and our own code must never be stale after an upgrade; the vendored library may be cached
    headers["Cache-Control"] = "public, max-age=86400" if rel.startswith("vendor/") else "no-cache"
    return web.FileResponse(path, headers=headers)


def static_file(root: Path, rel: str) -> Path:
    """``rel`` under ``root``: 404 for anything outside it, hidden, or not a file."""
    root = root.resolve()
    path = (root / rel).resolve()
    if (
        not path.is_relative_to(root)
        or any(part.startswith(".") for part in path.relative_to(root).parts)
        or not path.is_file()
    ):
        raise web.HTTPNotFound(text="not found")
    return path


async def config(request: web.Request) -> web.Response:
    """What the page needs before it draws anything. Public: it holds nothing secret."""
    from ..api.keys import HUB

    hub = request.app[HUB]
    settings = request.app[SETTINGS]
    radius = {mode.value: float(DEFAULT_RADIUS_M[mode]) for mode in TransportMode}
    radius.update({k: float(v) for k, v in hub.config.transport_radius_m.items()})
    body: dict[str, Any] = {
        "network_name": hub.config.network_name,
        "callback_number": hub.config.callback_number,
        "tiles": {"url": settings.tiles_url, "attribution": settings.tiles_attribution} if settings.tiles_url else None,
        "radius_m": radius,
        "max_photo_bytes": hub.config.max_photo_bytes,
        "types": [t.value for t in ActionType],
        "urgencies": [u.value for u in Urgency],
        "results": [r.value for r in Result],
        "results_by_type": {t.value: [r.value for r in RESULTS_BY_TYPE[t]] for t in ActionType},
        "expiry_warning_minutes": hub.config.expiry_warning_minutes,
        "transports": [m.value for m in TransportMode],
    }
    return web.json_response(body, headers={"Cache-Control": "no-cache"})


async def me(request: web.Request) -> web.Response:
    """The signed-in actor. Any valid token answers; what it may do is up to the API's role checks."""
    from ..api.auth import optional

    actor = await optional(request)
    if actor is None:
        raise AuthError("this endpoint needs a bearer token")
    org = actor.organisation
    body = {"name": actor.name, "role": actor.role, "organisation": actor.organisation_id}
    if org is not None:
        body["organisation_name"] = org.name
        if org.action_types:
            body["action_types"] = list(org.action_types)
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def ticket(request: web.Request) -> web.Response:
    """Trade the bearer token for a ticket to one action's event stream (same roles as the API's)."""
    from ..api.auth import DISPATCHER, OPERATOR, require
    from ..api.keys import HUB

    actor = await require(request, (DISPATCHER, OPERATOR))
    action_id = request.match_info["id"]
    await request.app[HUB].actions.get(action_id, actor)
    value, expires_at = request.app[SIGNER].issue(action_id, actor.name, actor.role)
    return web.json_response(
        {"ticket": value, "expires_at": expires_at, "events": f"/console/api/actions/{action_id}/events"},
        status=201,
        headers={"Cache-Control": "no-store"},
    )


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events for one action (see :mod:`hub.api.events`), opened with a ticket.

    ``?after=<tip id>`` skips tips the page already has (it passes the newest it holds on reconnect).
    """
    from ..api.events import after_tip, stream_action
    from ..api.keys import HUB

    action_id = request.match_info["id"]
    await request.app[SIGNER].redeem(request.query.get("ticket", ""), action_id)
    return await stream_action(request, request.app[HUB], action_id, after=after_tip(request))
