"""Charts as self-contained SVG: bars, a distribution, and a map of the municipalities.

SVG is drawn with presentation attributes only (no ``style`` attributes, no scripts), so the same
markup goes into the HTML report and into the console under its strict Content-Security-Policy. A
bar that would show fewer than 5 people is drawn as a stub labelled "< 5".
"""

from __future__ import annotations

import functools
import json
from html import escape
from pathlib import Path
from typing import Sequence

from .figures import Report
from .report_tables import reach_buckets, withheld_figures
from .tables import SMALL, SMALL_TEXT as _SMALL, small
from . import where
from .texts import DEFAULT, number, translator, value
from .texts import percent as as_percent

SMALL_TEXT = escape(_SMALL)  # in SVG markup
INK = "#1d2733"
MUTED = "#6b7785"
BAR = "#2f6db5"
ACCENT = "#d9822b"
FONT = 'font-family="system-ui, sans-serif"'
OUTLINE = Path(__file__).resolve().parent.parent / "console" / "static" / "data" / "outline.geojson"


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' role="img" aria-label="{escape(title)}" {FONT} font-size="12">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def bars(title: str, items: Sequence[tuple[str, float | None]], *, people: bool = False, percent: bool = False,
         width: int = 520, bar_height: int = 22, language: str = DEFAULT) -> str:
    """Horizontal bars, one per ``(label, value)``; ``percent`` values are fractions 0..1; numbers
    written as ``language`` writes them."""
    label_w = 210
    height = 30 + bar_height * len(items) + 10
    top = max([v for _, v in items if v is not None] + [1e-9])
    if percent:
        top = max(top, 0.01)
    body = [f'<text x="0" y="16" font-weight="600" fill="{INK}">{escape(title)}</text>']
    span = width - label_w - 70
    for i, (label, amount) in enumerate(items):
        y = 30 + i * bar_height
        body.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" fill="{INK}">{escape(label)}</text>')
        if amount is None:
            text, w = "–", 0.0
        elif people and small(amount):
            text, w = SMALL_TEXT, 2.0
        else:
            text = (as_percent(amount, language) if percent
                    else number(amount, 0 if float(amount).is_integer() else 1, language))
            w = max(1.0, span * amount / top) if amount else 0.0
        body.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{bar_height - 6}" fill="{BAR}"/>')
        body.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" fill="{MUTED}">{text}</text>')
    return _svg(width, height, body, title)


def columns(title: str, items: Sequence[tuple[str, int]], *, width: int = 760, height: int = 240,
            axis: str = "times reached", language: str = DEFAULT) -> str:
    """Vertical columns of counts of people (a distribution); small counts drawn as "< 5" stubs."""
    n = max(1, len(items))
    left, bottom, top_pad = 50, 40, 30
    plot_h = height - bottom - top_pad
    col_w = (width - left - 10) / n
    # the scale's top is printed on the axis: at least SMALL, so that it never shows a small count
    top = max([c for _, c in items] + [SMALL])
    body = [f'<text x="0" y="16" font-weight="600" fill="{INK}">{escape(title)}</text>',
            f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="{MUTED}"/>']
    for frac in (0.5, 1.0):
        y = height - bottom - plot_h * frac
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}" font-size="10">'
                    f"{number(top * frac, 0, language)}</text>")
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#e3e7ec"/>')
    for i, (label, c) in enumerate(items):
        x = left + i * col_w
        h = 2.0 if small(c) else plot_h * c / top
        body.append(f'<rect x="{x + 2:.1f}" y="{height - bottom - h:.1f}" width="{max(1.0, col_w - 4):.1f}"'
                    f' height="{h:.1f}" fill="{BAR}"><title>{escape(label)}: '
                    f'{SMALL_TEXT if small(c) else number(c, 0, language)}</title></rect>')
        size = 10 if len(label) <= 3 else 8
        body.append(f'<text x="{x + col_w / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" fill="{INK}"'
                    f' font-size="{size}">{escape(label)}</text>')
        if small(c):
            body.append(f'<text x="{x + col_w / 2:.1f}" y="{height - bottom - 6}" text-anchor="middle"'
                        f' fill="{MUTED}" font-size="9">{SMALL_TEXT}</text>')
    body.append(f'<text x="{(left + width) / 2:.0f}" y="{height - 6}" text-anchor="middle" fill="{MUTED}">'
                f"{escape(axis)}</text>")
    return _svg(width, height, body, title)


# -- the map ---------------------------------------------------------------------------------------
LAT0, LAT1, LON0, LON1 = 50.7, 53.6, 3.3, 7.3
KX = 0.61  # cos(52.2°): degrees of longitude are shorter


def _xy(lat: float, lon: float, scale: float) -> tuple[float, float]:
    return (lon - LON0) * KX * scale + 10, (LAT1 - lat) * scale + 10


@functools.cache
def _land_paths(scale: float) -> str:
    try:
        features = json.loads(OUTLINE.read_text(encoding="utf-8"))["features"]
    except (OSError, ValueError, KeyError):
        return ""
    out = []
    for f in features:
        geom = f.get("geometry") or {}
        polys = [geom["coordinates"]] if geom.get("type") == "Polygon" else geom.get("coordinates", []) \
            if geom.get("type") == "MultiPolygon" else []
        home = (f.get("properties") or {}).get("country") == "NL"
        for poly in polys:
            for ring in poly[:1]:
                d = "M" + "L".join("%.1f,%.1f" % _xy(lat, lon, scale) for lon, lat in ring) + "Z"
                out.append(f'<path d="{d}" fill="{"#eef1f4" if home else "#f7f8f9"}" stroke="#c5ccd4"'
                           ' stroke-width="0.7"/>')
    return "".join(out)


def _ramp(t: float) -> str:
    """Low values red, middle amber, high values blue."""
    stops = ((0.0, (200, 60, 45)), (0.5, (235, 180, 70)), (1.0, (47, 109, 181)))
    t = min(1.0, max(0.0, t))
    for (a, ca), (b, cb) in zip(stops, stops[1:]):
        if t <= b:
            u = (t - a) / (b - a)
            return "#%02x%02x%02x" % tuple(round(x + (y - x) * u) for x, y in zip(ca, cb))
    return "#2f6db5"


def municipality_map(title: str, values: Sequence[float | None], legend: str, *, percent: bool = False,
                     people: Sequence[int] | None = None, scale: float = 120.0, language: str = DEFAULT) -> str:
    """A dot per municipality (area by inhabitants, colour by ``values``: low red, high blue)."""
    width = int((LON1 - LON0) * KX * scale + 20)
    height = int((LAT1 - LAT0) * scale + 60)
    known = sorted(v for v in values if v is not None)
    hi = known[int(0.95 * (len(known) - 1))] if known else 1.0
    hi = hi or 1.0
    body = [f'<rect width="{width}" height="{height}" fill="#ffffff"/>', _land_paths(scale)]
    munis = where.municipalities()
    order = sorted(range(len(munis)), key=lambda i: -munis[i].population)
    for i in order:
        p, v = munis[i], values[i]
        x, y = _xy(p.lat, p.lon, scale)
        r = 1.5 + (p.population / 1000) ** 0.5 * 0.35
        hidden = people is not None and small(people[i])
        fill = "#b8c0c8" if v is None or hidden else _ramp(v / hi)
        shown = "–" if v is None or hidden else as_percent(v, language) if percent else number(v, 1, language)
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{fill}" fill-opacity="0.85"'
                    f' stroke="#ffffff" stroke-width="0.6"><title>{escape(p.name)}: {shown}</title></circle>')
    ly = height - 34
    for k in range(5):
        t = k / 4
        shown = as_percent(hi * t, language) if percent else number(hi * t, 1, language)
        body.append(f'<rect x="{10 + k * 60}" y="{ly}" width="60" height="10" fill="{_ramp(t)}"/>')
        body.append(f'<text x="{10 + k * 60}" y="{ly + 24}" fill="{MUTED}" font-size="10">{shown}</text>')
    body.append(f'<text x="10" y="18" font-weight="600" fill="{INK}">{escape(title)}</text>')
    body.append(f'<text x="10" y="{ly - 6}" fill="{MUTED}" font-size="10">{escape(legend)}</text>')
    return _svg(width, height, body, title)


def charts(report: Report) -> dict[str, str]:
    """Every chart of a report, by name, its words in the report's language."""
    h = report.headline
    lang = report.language
    _ = translator(lang)
    withheld = withheld_figures(report)
    # a figure computed from fewer than 5 people is withheld, as in the summary table
    seeds = [(_(label), None if key in withheld else h[key]) for label, key in (
        ("Response (time-critical)", "response_share"),
        ("Solved thanks to participants", "solved_share"),
        ("… missing persons", "solved_share_missing_persons"),
        ("Reached more than 3 times", "share_reached_more_than_3"),
        ("Reached more than 5 times", "share_reached_more_than_5"),
    )]
    types = [(value(row["type"], lang), row["actions"]) for row in report.table("types").rows if row["type"] != "all"]
    tips = [(value(row["channel"], lang), row["tips"]) for row in report.table("tips").rows if row["channel"] != "all"]
    # a share of fewer than 5 people is withheld, as in the table (its column is ``of="targeted"``)
    starts = [(value(row["channel"], lang), None if small(row["targeted"]) else row["delivered_share"])
              for row in report.table("channels").rows if row["kind"] == "start"]
    munis = where.municipalities()
    days = report.selection.days
    per_100k_year = [n / p.population * 100_000 * 365 / days for p, n in
                     zip(munis, report.municipality_actions.tolist())]
    participation = [k / p.population_16_plus for p, k in zip(munis, report.municipality_participants.tolist())]
    return {
        "shares": bars(_("The seeds' figures"), seeds, percent=True, language=lang),
        "types": bars(_("Actions per type"), types, language=lang),
        "tips": bars(_("Tips per channel"), tips, people=True, language=lang),
        "delivered": bars(_("Start messages delivered, per channel"), starts, percent=True, language=lang),
        "reach": columns(_("How often participants were reached"), reach_buckets(report), axis=_("times reached"),
                         language=lang),
        "map_actions": municipality_map(_("Actions per 100,000 inhabitants per year"), per_100k_year,
                                        _("actions per 100,000 inhabitants per year"), language=lang),
        "map_participation": municipality_map(
            _("Participants as a share of inhabitants aged 16+"), participation,
            _("red: few registered") + " · 16+: " + _("estimated"), percent=True,
            people=report.municipality_participants.tolist(), language=lang),
    }
