"""``burgerhub report``: the evaluation report of a period as one self-contained HTML file (and CSV tables)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from ..models import ActionType, Urgency
from .common import config_from, run


def register(cli: click.Group) -> None:
    cli.add_command(report)


def _day(ctx, param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not a date as YYYY-MM-DD", ctx=ctx, param=param) from e


@click.command()
@click.option("--from", "first", required=True, callback=_day, help="First day (YYYY-MM-DD), Dutch time.")
@click.option("--to", "last", required=True, callback=_day, help="Last day, included.")
@click.option("--region", help="Only actions of this region (a province id also narrows the municipalities).")
@click.option("--municipality", help="Only actions whose area lies in this municipality.")
@click.option("--type", "action_type", type=click.Choice([t.value for t in ActionType]))
@click.option("--urgency", type=click.Choice([u.value for u in Urgency]))
@click.option("--organisation", help="Only actions issued by this organisation.")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True),
              help="HTML file to write (default: burgerhub-report-FROM-TO.html).")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False), help="Also write every table as CSV here.")
@click.option("--language", type=click.Choice(["nl", "en"]), default="nl", show_default=True,
              help="Language of the report's words (Dutch or English); the figures are the same.")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, writable=True),
              help="Also write the report as PDF (needs the 'pdf' extra: WeasyPrint).")
@click.pass_context
def report(ctx, first, last, region, municipality, action_type, urgency, organisation, out, csv_dir, language,
           pdf) -> None:
    """Write the evaluation report of a period: counts only, never a name, number or address."""
    from ..evaluation import ParticipantCells, Selection, build
    from ..evaluation.html import render, write_pdf
    from ..evaluation.texts import number, percent
    from ..store.select import open_store

    if first > last:
        raise click.BadParameter("must not be after --to", ctx=ctx, param_hint="--from")
    config = config_from(ctx)
    municipality_name = municipality
    if municipality:
        from ..places import lookup

        place = lookup(municipality)
        if place is None or place.kind != "municipality":
            raise click.BadParameter(f"unknown municipality {municipality!r}", ctx=ctx, param_hint="--municipality")
        municipality_name = place.name
    selection = Selection(first, last, region=region, municipality=municipality_name, type=action_type,
                          urgency=urgency, organisation=organisation)

    async def go():
        store = open_store(config.database, config.database_path)
        await store.open()
        try:
            # participation per municipality is counted again when older than an hour
            return await build(store, selection, cells=ParticipantCells(max_age=3600.0), language=language)
        finally:
            await store.close()

    result = run(go())
    path = Path(out or f"burgerhub-report-{first.isoformat()}-{last.isoformat()}.html")
    page = render(result, network=config.network_name)
    path.write_text(page, encoding="utf-8")
    if pdf:
        write_pdf(page, pdf)
    if csv_dir:
        folder = Path(csv_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for table in result.tables:
            (folder / f"{table.name}.csv").write_text(table.to_csv(), encoding="utf-8")
    h = result.headline
    pct = lambda v: "–" if v is None else percent(v, language)  # noqa: E731
    took = number(result.took_s, 2, language)
    if language == "nl":
        click.echo(f"{path}: {number(h['actions'], 0, language)} acties; reactie bij {pct(h['response_share'])} van de"
                   f" tijdkritische; opgelost dankzij deelnemers {pct(h['solved_share'])}; {took} s")
    else:
        click.echo(f"{path}: {number(h['actions'], 0, language)} actions; response {pct(h['response_share'])} of"
                   f" time-critical; solved thanks to participants {pct(h['solved_share'])}; {took} s")
