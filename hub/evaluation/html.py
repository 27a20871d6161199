"""One self-contained HTML file for a report: figures, charts (inline SVG) and every table.

Nothing is fetched when the file is opened (no scripts, fonts or images from elsewhere), so it can be
mailed or archived as it is. Tables print through :func:`hub.evaluation.tables.cell`: counts only,
small counts of people as "< 5".
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from .charts import charts
from .figures import TZ, Report
from .report_tables import withheld_figures
from .tables import Table
from .texts import number, percent, translator

STYLE = """
@page{size:A4 landscape;margin:12mm}
body{font-family:system-ui,sans-serif;color:#1d2733;margin:2rem auto;max-width:1100px;padding:0 1rem;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #dfe4ea}
.meta{color:#6b7785}.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #dfe4ea;border-radius:6px;padding:.6rem .9rem;min-width:10rem}
.card b{display:block;font-size:1.5rem}.card span{color:#6b7785;font-size:.85rem}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start}svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1rem}th,td{border-bottom:1px solid #e8ecf0;
padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f4f6f8}td.n{text-align:right}
.note{color:#6b7785;font-size:.85rem}details summary{cursor:pointer;color:#2f6db5}.wide{overflow:auto}
"""

SUMMARY = "The network's figures"
CARDS = (  # (figure, words, decimals; "pct": a percentage)
    ("actions", "actions", 0),
    ("response_share", "time-critical actions with a participant response", "pct"),
    ("solved_share", "solved thanks to participants", "pct"),
    ("solved_share_missing_persons", "missing persons solved thanks to participants", "pct"),
    ("actions_per_100k_per_year", "actions per 100,000 inhabitants per year", 1),
    ("mean_times_reached_if_reached", "times a reached participant was reached (mean)", 1),
)


def _card(value, fmt: str | int, language: str) -> str:
    if value is None:
        return "–"
    if fmt == "pct":
        return percent(value, language)
    return number(value, int(fmt), language)


def table_html(t: Table, *, limit: int | None = None, language: str = "nl") -> str:
    head = "".join(f"<th>{escape(c.label)}</th>" for c in t.columns)
    numeric = [c.kind not in ("text",) for c in t.columns]
    shown = t.cells(limit)
    total = len(t.rows)
    rows = "".join(
        "<tr>" + "".join(f'<td class="n">{escape(v)}</td>' if num else f"<td>{escape(v)}</td>"
                         for v, num in zip(row, numeric)) + "</tr>"
        for row in shown
    )
    _ = translator(language)
    more = (f'<p class="note">{escape(_("First {limit} of {total} rows; the CSV export has all.").format(limit=limit, total=total))}</p>'
            if limit and total > limit else "")
    note = f'<p class="note">{escape(t.note)}</p>' if t.note else ""
    return (f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'
            f"{more}{note}")


def _describe(report: Report) -> str:
    """The selection in the report's language: its period and filters (codes as they are)."""
    _ = translator(report.language)
    s = report.selection
    parts = [f"{s.first.isoformat()} – {s.last.isoformat()}"]
    for key in ("region", "municipality", "type", "urgency", "organisation"):
        if getattr(s, key):
            parts.append(f"{_(key)}: {getattr(s, key)}")
    return ", ".join(parts)


def render(report: Report, *, network: str = "Burgernet", action_rows: int = 200) -> str:
    """The report as one HTML document, its words in the report's language."""
    _ = translator(report.language)
    lang = report.language
    h = report.headline
    selection = _describe(report)
    svg = charts(report)
    generated = datetime.fromtimestamp(report.generated_at, TZ).strftime("%Y-%m-%d %H:%M")
    counted = datetime.fromtimestamp(report.participants_counted_at or report.generated_at, TZ).strftime("%Y-%m-%d %H:%M")
    withheld = withheld_figures(report)
    cards = "".join(f'<div class="card"><b>{_card(None if k in withheld else h.get(k), f, lang)}</b>'
                    f'<span>{escape(_(label))}</span></div>' for k, label, f in CARDS)
    tables = {name: table_html(report.table(name), language=lang)
              for name in ("summary", "types", "channels", "tips", "reach", "municipalities")}
    parts = [
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">',
        f"<title>{escape(_('{network} evaluation {selection}').format(network=network, selection=selection))}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escape(_('{network}: evaluation').format(network=network))}</h1>",
        f'<p class="meta">{escape(selection)} · {escape(_("{days} days").format(days=report.selection.days))} · '
        f"{escape(_('generated {at} (participants per municipality counted {counted})').format(at=generated, counted=counted))}"
        f" · {escape(_('counts only; fewer than 5 people shown as “< 5”'))}</p>",
        f'<div class="cards">{cards}</div>',
        f'<div class="charts">{svg["shares"]}{svg["types"]}</div>',
        f'<div class="charts">{svg["reach"]}{svg["delivered"]}</div>',
        f'<div class="charts">{svg["map_actions"]}{svg["map_participation"]}{svg["tips"]}</div>',
        f"<h2>{escape(_(SUMMARY))}</h2>", tables["summary"],
        f"<h2>{escape(_('Per action type'))}</h2>", tables["types"],
        f"<h2>{escape(_('Messages and tips'))}</h2>", tables["channels"], tables["tips"],
        f"<h2>{escape(_('Reach per participant'))}</h2>", tables["reach"],
        f"<h2>{escape(_('Municipalities'))}</h2>",
        f"<details><summary>{escape(_('Every municipality'))}</summary>", tables["municipalities"], "</details>",
        f"<h2>{escape(_('Per action'))}</h2>", table_html(report.table("actions"), limit=action_rows, language=lang),
        "</body></html>",
    ]
    return "".join(parts)


def write_pdf(html: str, path) -> None:
    """Render the report to PDF with WeasyPrint (HTML and SVG to PDF in Python, no browser); the
    ``pdf`` extra installs it. Raises :class:`~hub.errors.ConfigError` when it is missing."""
    try:
        import weasyprint
    except ImportError as e:  # an optional dependency: the HTML report works without it
        from ..errors import ConfigError

        raise ConfigError("a PDF needs WeasyPrint: pip install 'burgerhub[pdf]'") from e
    weasyprint.HTML(string=html).write_pdf(str(path))
