"""The public overview's routes: the page, one action, its CAP message, and the Atom feed.

No token is needed and nothing personal is shown (see :mod:`hub.public`). Pages are plain HTML with a
strict Content-Security-Policy (no scripts at all); they are Dutch unless ``?lang=en``.

The feed follows the conventions of CAP feeds in Atom: one entry per CAP message issued (an action's
Alert, each Update, its Cancel: an update is a new entry that references the earlier message, never an
edit of one), each entry linking to the CAP document (``type="application/cap+xml"``) and to the page.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from lxml import etree

from ..cap import outbound
from ..hookspecs import hookimpl
from . import PublicPolicy, policies, public_view
from .labels import RESULTS, TYPES, WORDS

routes = web.RouteTableDef()
#: rendered answers by (path, query), with the loop time they were made: the overview is public, so a
#: burst of requests costs one set of store reads per :data:`FRESH_SECONDS`
CACHE = web.AppKey("public_cache", dict)
FRESH_SECONDS = 15.0
TEMPLATES = Path(__file__).parent / "templates"
ATOM = "http://www.w3.org/2005/Atom"
LIMIT = 500
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "public, max-age=30",
}


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )


class _Forget:
    """Empties the cache whenever an action starts, changes or ends in this process (another hub of a
    cluster may show the previous state for up to :data:`FRESH_SECONDS`)."""

    def __init__(self, cache: dict) -> None:
        self.cache = cache

    @hookimpl
    def action_event(self, event) -> None:
        self.cache.clear()


def install(app: web.Application) -> None:
    """Add the public overview's routes (and their short-lived cache) to the hub's web app."""
    cache: dict = {}
    app[CACHE] = cache
    _hub_of(app).pm.register(_Forget(cache))
    app.add_routes(routes)


def forget(app: web.Application) -> None:
    """Drop every cached answer (after a change of what is public)."""
    if CACHE in app:
        app[CACHE].clear()


def _hub_of(app: web.Application):
    from ..api.keys import HUB

    return app[HUB]


async def _cached(request: web.Request, make) -> web.Response:
    """The answer made by ``make()`` for this path and query, reused for :data:`FRESH_SECONDS`."""
    import asyncio

    cache = request.app.get(CACHE)
    if cache is None:
        return await make()
    now = asyncio.get_running_loop().time()
    key = request.path_qs
    hit = cache.get(key)
    if hit and now - hit[0] < FRESH_SECONDS:
        body, content_type, headers = hit[1]
        return web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)
    response = await make()
    if len(cache) > 1000:
        cache.clear()
    cache[key] = (now, (response.body, response.content_type, dict(HEADERS if response.content_type == "text/html" else {
        "Cache-Control": "public, max-age=30", "X-Content-Type-Options": "nosniff"})))
    return response


def _hub(request: web.Request):
    from ..api.keys import HUB

    return request.app[HUB]


async def _policies(hub) -> dict[str, PublicPolicy]:
    return policies(await hub.store.public_policies())


async def visible(hub, now: datetime | None = None) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(action, public view)`` of every action the public may see now, newest first."""
    rules = await _policies(hub)
    out = []
    for action in await hub.store.list_actions(limit=LIMIT):
        view = public_view(action, rules[action["type"]], now)
        if view is not None:
            out.append((action, view))
    return out


async def _one(hub, action_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    action = await hub.store.get_action(action_id)
    view = public_view(action, (await _policies(hub))[action["type"]]) if action else None
    if view is None:
        raise web.HTTPNotFound(text="not found")
    return action, view


def _lang(request: web.Request) -> str:
    return "en" if request.query.get("lang") == "en" else "nl"


def _localised(view: dict[str, Any], lang: str) -> dict[str, Any]:
    texts = view["translations"].get(lang) if lang != "nl" else None
    if texts:
        return {**view, "title": texts.get("title", ""), "description": texts["description"]}
    return view


def _page(request: web.Request, template: str, **values: Any) -> web.Response:
    hub = _hub(request)
    lang = _lang(request)
    html = _env().get_template(template).render(
        lang=lang, w=WORDS[lang], types=TYPES[lang], results=RESULTS[lang], network=hub.config.network_name,
        heading=f"{hub.config.network_name}: {WORDS[lang]['title']}", **values,
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=HEADERS)


@routes.get("/public/actions")
async def page(request: web.Request) -> web.Response:
    async def make():
        lang = _lang(request)
        views = [_localised(v, lang) for _, v in await visible(_hub(request))]
        return _page(request, "list.html.j2", actions=views, callback=None)

    return await _cached(request, make)


@routes.get("/public/actions/{id}")
async def one(request: web.Request) -> web.Response:
    action, view = await _one(_hub(request), request.match_info["id"])
    callback = action.get("callback_number") if view["status"] == "active" else None
    return _page(request, "action.html.j2", action=_localised(view, _lang(request)), callback=callback)


def public_action(action: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    """The action as the public CAP message may show it: the policy's texts, a coarse circle as its area."""
    place = view["place"]
    radius = place.get("radius_m") or place.get("span_km", 1) * 500
    hidden = {"nl": WORDS["nl"]["hidden"], "en": WORDS["en"]["hidden"]}
    return {
        "id": action["id"], "type": action["type"], "urgency": action["urgency"], "status": action["status"],
        "region": action.get("region"), "title": view["title"], "description": view["description"] or hidden["nl"],
        "translations": view["translations"] if view["description"] else {"en": {"description": hidden["en"]}},
        "area": {"type": "circle", "lat": place["lat"], "lon": place["lon"], "radius_m": max(radius, 1000.0)},
        "callback_number": action.get("callback_number"), "started_at": action["started_at"],
        "expires_at": action.get("expires_at"), "ended_at": action.get("ended_at"), "version": action["version"],
        "history": action.get("history", []), "result": action.get("result"), "result_text": view["result_text"],
    }


async def _cap(hub, action: dict[str, Any], view: dict[str, Any], version: int | None) -> bytes:
    chain = await hub.cap.chain(action)
    index = next((i for i, m in enumerate(chain) if m.version == version), -1)
    name = await hub.cap.issuer_name(action)
    return outbound.write(public_action(action, view), chain, organisation_name=name,
                          public_url=hub.config.public_url, network_name=hub.config.network_name, index=index)


@routes.get("/public/actions/{id}/cap")
async def cap(request: web.Request) -> web.Response:
    """The action's CAP message as the public may see it (``?version=N``: the message of that version)."""
    hub = _hub(request)
    action, view = await _one(hub, request.match_info["id"])
    try:
        version = int(request.query["version"]) if "version" in request.query else None
    except ValueError:
        raise web.HTTPBadRequest(text="version must be a number") from None
    body = await _cap(hub, action, view, version)
    return web.Response(body=body, content_type="application/cap+xml", charset="utf-8",
                        headers={"Cache-Control": "public, max-age=30", "X-Content-Type-Options": "nosniff"})


@routes.get("/public/feed.atom")
async def feed(request: web.Request) -> web.Response:
    async def make():
        hub = _hub(request)
        body = await atom(hub, await visible(hub))
        return web.Response(body=body, content_type="application/atom+xml", charset="utf-8",
                            headers={"Cache-Control": "public, max-age=30", "X-Content-Type-Options": "nosniff"})

    return await _cached(request, make)


async def atom(hub, items: list[tuple[dict[str, Any], dict[str, Any]]]) -> bytes:
    """An Atom feed with one entry per CAP message of the public actions, newest first."""
    base = hub.config.public_url.rstrip("/")
    root = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})

    def sub(parent, name: str, text: str | None = None, **attrs: str):
        el = etree.SubElement(parent, f"{{{ATOM}}}{name}", {k: v for k, v in attrs.items()})
        if text is not None:
            el.text = text
        return el

    entries = []
    authors: dict[str, str] = {}
    for action, view in items:
        org_id = action.get("organisation") or "national"
        if org_id not in authors:
            authors[org_id] = await hub.cap.issuer_name(action)
        author = authors[org_id]
        for message in await hub.cap.chain(action):
            entries.append((message, action, view, author))
    entries.sort(key=lambda e: e[0].sent, reverse=True)
    updated = entries[0][0].sent if entries else outbound.cap_time(datetime.now(timezone.utc))
    sub(root, "id", f"{base}/public/feed.atom")
    sub(root, "title", f"{hub.config.network_name}: {WORDS['nl']['title']}")
    sub(root, "updated", updated)
    sub(root, "link", rel="self", href=f"{base}/public/feed.atom", type="application/atom+xml")
    sub(root, "link", rel="alternate", href=f"{base}/public/actions", type="text/html")
    author_el = sub(root, "author")
    sub(author_el, "name", hub.config.network_name)
    for message, action, view, author in entries:
        entry = sub(root, "entry")
        sub(entry, "id", f"urn:cap:{message.sender}:{message.identifier}")
        label = TYPES["nl"][action["type"]]
        kind = {"Alert": "", "Update": " (update)", "Cancel": " (" + WORDS["nl"]["ended"].lower() + ")"}[message.msg_type]
        sub(entry, "title", f"{label}{': ' + view['title'] if view['title'] else ''}{kind}")
        sub(entry, "updated", message.sent)
        entry_author = sub(entry, "author")
        sub(entry_author, "name", author)
        sub(entry, "link", rel="alternate", type="application/cap+xml",
            href=f"{base}/public/actions/{action['id']}/cap?version={message.version}")
        sub(entry, "link", rel="related", type="text/html", href=f"{base}/public/actions/{action['id']}")
        sub(entry, "category", term=action["type"], label=label)
        summary = view["description"] or WORDS["nl"]["hidden"]
        if view["result"] and message.msg_type == "Cancel":
            summary = f"{RESULTS['nl'][view['result']]}. {summary}"
        sub(entry, "summary", summary)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
