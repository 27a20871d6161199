"""``/v1/evaluation``: a period's figures, charts and tables; and telephone tips logged by a dispatcher.

* ``GET /v1/evaluation?from=YYYY-MM-DD&to=YYYY-MM-DD[&region=&municipality=&type=&urgency=&organisation=][&lang=nl|en]``:
  the headline figures, every table (printed cells: small counts of people as "< 5") and the charts as SVG,
  their words in Dutch (the default) or English (``lang``; the console passes its own language);
* ``GET /v1/evaluation/tables/{name}.csv?...``: one table as CSV;
* ``GET /v1/evaluation/report.html?...``: the self-contained HTML report;
* ``POST /v1/actions/{id}/phone-tips``: a tip that came in by telephone on the call-back line, so the
  response figures count it (``{"text"?, "received_at"?}``; the time defaults to now).
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from ..errors import NotFound, ValidationError
from ..evaluation import ParticipantCells, Selection, build
from ..evaluation.charts import charts
from ..evaluation.html import render
from ..evaluation.texts import DEFAULT as DEFAULT_LANGUAGE, LANGUAGES
from ..inbound import read_json_object
from ..models import ActionType, Urgency
from ..places import lookup
from ..schemas import validate
from ..store import AuditEntry
from .auth import DISPATCHER, OPERATOR, require
from .keys import HUB

routes = web.RouteTableDef()
READERS = (DISPATCHER, OPERATOR)
CELLS = web.AppKey("evaluation_cells", ParticipantCells)
MAX_DAYS = 3 * 366
PHONE_TIP_TEXT = "Telefonische tip (terugbellijn)"
#: how old the console's count of participants per municipality may be while participants change
CELLS_MAX_AGE = 3600.0  # also the command line's
#: rows per table in the JSON answer (the CSV export has every row)
API_ROWS = 500


def install(app: web.Application) -> None:
    app[CELLS] = ParticipantCells(max_age=CELLS_MAX_AGE)
    app.add_routes(routes)


def _date(raw: str | None, name: str, default: date) -> date:
    if raw is None or raw == "":
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError as e:
        raise ValidationError(name, "must be a date as YYYY-MM-DD") from e


def selection_from(query) -> Selection:
    """A :class:`Selection` from query parameters (default: the last 30 days)."""
    today = datetime.now(timezone.utc).date()
    last = _date(query.get("to"), "to", today)
    first = _date(query.get("from"), "from", last - timedelta(days=29))
    if first > last:
        raise ValidationError("from", "must not be after 'to'")
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationError("from", f"a report covers at most {MAX_DAYS} days")
    kind = query.get("type") or None
    if kind is not None and kind not in {t.value for t in ActionType}:
        raise ValidationError("type", f"unknown action type {kind!r}")
    urgency = query.get("urgency") or None
    if urgency is not None and urgency not in {u.value for u in Urgency}:
        raise ValidationError("urgency", f"unknown urgency {urgency!r}")
    values: dict[str, Any] = {}
    for key in ("region", "municipality", "organisation"):
        value = (query.get(key) or "").strip()
        if len(value) > 200:
            raise ValidationError(key, "at most 200 characters")
        values[key] = value or None
    if values["municipality"]:
        place = lookup(values["municipality"])
        if place is None or place.kind != "municipality":
            raise ValidationError("municipality", f"unknown municipality {values['municipality']!r}")
        values["municipality"] = place.name
    return Selection(first, last, type=kind, urgency=urgency, **values)


def language_from(query) -> str:
    """The report's language from ``lang`` (default Dutch)."""
    value = query.get("lang") or DEFAULT_LANGUAGE
    if value not in LANGUAGES:
        raise ValidationError("lang", f"must be one of {', '.join(LANGUAGES)}")
    return value


async def _report(request: web.Request):
    await require(request, READERS)
    selection = selection_from(request.query)
    language = language_from(request.query)
    # the hub keeps settled actions' figures every minute; a request only reads
    return await build(request.app[HUB].store, selection, cells=request.app[CELLS], keep=False, language=language)


@routes.get("/v1/evaluation")
async def evaluation(request: web.Request) -> web.Response:
    report = await _report(request)
    body = await asyncio.to_thread(report.to_dict, API_ROWS)
    body["charts"] = await asyncio.to_thread(charts, report)
    body["took_s"] = round(report.took_s, 3)
    return web.json_response(body, headers={"Cache-Control": "no-store"})


@routes.get("/v1/evaluation/tables/{name}.csv")
async def table_csv(request: web.Request) -> web.Response:
    report = await _report(request)
    name = request.match_info["name"]
    try:
        table = report.table(name)
    except KeyError as e:
        raise NotFound(f"no table {name!r}; tables: {', '.join(t.name for t in report.tables)}") from e
    s = report.selection
    filename = f"burgerhub-{name}-{s.first.isoformat()}-{s.last.isoformat()}.csv"
    return web.Response(text=await asyncio.to_thread(table.to_csv), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                 "Cache-Control": "no-store"})


@routes.get("/v1/evaluation/report.html")
async def report_html(request: web.Request) -> web.Response:
    report = await _report(request)
    s = report.selection
    filename = f"burgerhub-report-{s.first.isoformat()}-{s.last.isoformat()}.html"
    page = await asyncio.to_thread(render, report, network=request.app[HUB].config.network_name)
    return web.Response(text=page,
                        content_type="text/html", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                 "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                                 # the report needs its own inline styles and nothing else
                                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


@routes.post("/v1/actions/{id}/phone-tips")
async def phone_tip(request: web.Request) -> web.Response:
    actor = await require(request, (DISPATCHER,))
    payload = await read_json_object(request)
    validate("tip.phone", payload)
    text = payload.get("text", PHONE_TIP_TEXT)
    hub = request.app[HUB]
    action_id = request.match_info["id"]
    action = await hub.store.get_action(action_id)
    if action is None:
        raise NotFound(f"action {action_id!r} not found")
    now = datetime.now(timezone.utc)
    received = now
    if payload.get("received_at") is not None:
        raw = payload["received_at"]
        try:
            received = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            received = None
        if received is None or received.tzinfo is None:
            raise ValidationError("received_at", "must be a date and time with its offset (ISO 8601)")
        started = datetime.fromisoformat(action["started_at"])
        # a time typed to the minute may fall in the minute the action started
        if received < started - timedelta(minutes=1) or received > now + timedelta(minutes=1):
            raise ValidationError("received_at", "must lie between the action's start and now")
        received = min(max(received, started), now)
    tip_id = await hub.store.add_phone_tip(action_id, text.strip(), received.timestamp())
    await hub.store.add_audit(AuditEntry(actor.name, actor.role, "tip.phone", action_id, {"tip": tip_id}))
    hub.tip_stored(action_id, tip_id)
    hub.metrics.tips.labels("phone").inc()
    return web.json_response({"id": tip_id, "action_id": action_id, "channel": "phone",
                              "received_at": received.isoformat()}, status=201)
