"""The participant page's routes (see :mod:`hub.participant`)."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any
from aiohttp import web

from ..console.web import ConsoleSettings, page_headers, static_file, tiles_origin
from ..places import all_places

STATIC = Path(__file__).parent / "static"
VENDOR = Path(__file__).resolve().parents[1] / "console" / "static" / "vendor"
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".geojson": "application/geo+json",
}


def _tiles(hub: Any) -> tuple[str | None, str]:
    """The map tiles the console draws on (as installed, which may come from the environment), else as configured."""
    for extension in getattr(hub, "web_extensions", ()):
        if isinstance(extension, ConsoleSettings):
            return extension.tiles_url, extension.tiles_attribution or ""
    console = getattr(hub.config, "console", None)
    return (getattr(console, "tiles_url", None) or None), (getattr(console, "tiles_attribution", "") or "")


def security_headers(hub: Any) -> dict[str, str]:
    tiles, _ = _tiles(hub)
    headers = page_headers(tiles_origin(tiles) if tiles else None, workers=True)
    headers["Permissions-Policy"] = "geolocation=(self), camera=(self)"
    return headers


def mount(app: web.Application) -> None:
    """Add the participant page's routes to the hub's web app."""
    app.router.add_get("/participant", _to_slash)
    app.router.add_get("/participant/config.json", config)
    app.router.add_get("/participant/places.json", places)
    app.router.add_get("/participant/outline.geojson", outline)
    app.router.add_get("/participant/vendor/{path:.*}", vendor)
    app.router.add_get("/participant/{path:.*}", asset)


async def _to_slash(request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect("/participant/")


def _send(request: web.Request, path: Path, cache: str) -> web.FileResponse:
    from ..api.keys import HUB

    headers = security_headers(request.app[HUB])
    headers["Content-Type"] = CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers["Cache-Control"] = cache
    if path.name == "sw.js":
        headers["Service-Worker-Allowed"] = "/participant/"
    return web.FileResponse(path, headers=headers)


async def asset(request: web.Request) -> web.StreamResponse:
    """A file under ``static/``; the empty path is the page."""
    return _send(request, static_file(STATIC, request.match_info["path"] or "index.html"), "no-cache")


async def outline(request: web.Request) -> web.StreamResponse:
    """The console's bundled outline of the Netherlands: a map without a tile server."""
    return _send(request, static_file(VENDOR.parent / "data", "outline.geojson"), "public, max-age=86400")


async def vendor(request: web.Request) -> web.StreamResponse:
    return _send(request, static_file(VENDOR, request.match_info["path"]), "public, max-age=86400")


async def config(request: web.Request) -> web.Response:
    """What the page needs first. Public: nothing secret."""
    from ..api.keys import HUB

    hub = request.app[HUB]
    tiles, attribution = _tiles(hub)
    app = hub.runtimes.get("app")
    body = {
        "network_name": hub.config.network_name,
        "callback_number": hub.config.callback_number,
        "tiles": {"url": tiles, "attribution": attribution} if tiles else None,
        "app": {"available": app is not None, "config": "/v1/channels/app/config"} if app else {"available": False},
        "channels": sorted(n for n in ("app", "sms", "voice", "email") if n in hub.runtimes),
        "minimum_age": 16,
    }
    return web.json_response(body, headers={"Cache-Control": "no-cache"})


async def places(request: web.Request) -> web.Response:
    """The shipped places (municipalities, main towns and their common names) with coordinates."""
    rows = []
    for p in all_places():
        rows.append({"name": p.name, "province": p.province_name, "lat": p.lat, "lon": p.lon})
        rows.extend({"name": a, "province": p.province_name, "lat": p.lat, "lon": p.lon, "of": p.name} for a in p.aliases)
    rows.sort(key=lambda r: r["name"])
    return web.json_response(rows, headers={"Cache-Control": "public, max-age=86400"})
