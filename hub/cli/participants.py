"""``burgerhub participants``: register, show, erase and import participants on the local store."""

from __future__ import annotations

import json

import click

from ..participants import explicit
from .common import config_from, echo_json, local_hub, read_file, run


def register(cli: click.Group) -> None:
    cli.add_command(participants)


@click.group()
def participants() -> None:
    """Participants and their preferences."""


@participants.command("add")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--verified", is_flag=True,
              help="Mark the phone numbers and e-mail address verified (you vouch for them; audited).")
@click.pass_context
def add(ctx, path, verified) -> None:
    """Register or replace a participant from a JSON file ('-' for standard input).

    Contacts are unverified (never alerted) until their owner proves them, unless --verified."""
    text = click.get_text_stream("stdin").read() if path == "-" else read_file(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise click.BadParameter(f"not valid JSON: {e}") from e

    async def go():
        async with local_hub(config_from(ctx)) as hub:
            p, _ = await hub.registry.register(data, verified=verified)
            if verified:
                await hub.registry.audit_verified_import([p.id], actor="cli", role="operator")
            return explicit(p.to_dict())

    echo_json(run(go()))


@participants.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--verified", is_flag=True,
              help="Mark the file's phone numbers and e-mail addresses verified (you vouch for them; audited).")
@click.pass_context
def import_(ctx, path, verified) -> None:
    """Bulk import from CSV; bad rows are reported with line, field and reason, good rows are kept.

    Contacts are unverified (never alerted) until their owners prove them, unless --verified."""
    text = read_file(path)

    async def go():
        async with local_hub(config_from(ctx)) as hub:
            return await hub.registry.import_csv(text, verified=verified, actor="cli", role="operator")

    report = run(go())
    click.echo(f"imported {report['imported']}, rejected {report['rejected']}")
    for err in report["errors"]:
        click.echo(f"  {json.dumps(err, ensure_ascii=False)}", err=True)
    if report["rejected"]:
        raise SystemExit(1)


@participants.command("show")
@click.argument("participant_id")
@click.pass_context
def show(ctx, participant_id) -> None:
    async def go():
        async with local_hub(config_from(ctx)) as hub:
            return await hub.registry.get(participant_id)

    echo_json(run(go()))


@participants.command("erase")
@click.argument("participant_id")
@click.confirmation_option(prompt="Erase this participant and all their personal data?")
@click.pass_context
def erase(ctx, participant_id) -> None:
    """Erase a participant: the record, and their contact details in the delivery ledger."""

    async def go():
        async with local_hub(config_from(ctx)) as hub:
            await hub.registry.erase(participant_id, actor="cli", role="operator")

    run(go())
    click.echo(f"erased {participant_id}")


@participants.command("count")
@click.pass_context
def count(ctx) -> None:
    async def go():
        async with local_hub(config_from(ctx)) as hub:
            return await hub.store.count_participants()

    click.echo(run(go()))
