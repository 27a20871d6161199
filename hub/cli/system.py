"""``burgerhub plugins``, ``outbox``, ``audit``, ``openapi``: looking inside the hub."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import click

from .common import config_from, echo_json, local_hub, run


def register(cli: click.Group) -> None:
    for command in (plugins, outbox, audit):
        cli.add_command(command)


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def plugins(ctx, as_json) -> None:
    """Installed channels: running in sandbox or against a provider, or unavailable and why."""

    async def go():
        async with local_hub(config_from(ctx)) as hub:
            return hub.channel_status()

    status = run(go())
    if as_json:
        echo_json(status)
        return
    for name, info in status.items():
        if info["status"] == "unavailable":
            click.echo(f"{name:<14} UNAVAILABLE  {info['reason']}")
        else:
            click.echo(f"{name:<14} {info['mode']:<9} {info.get('title', '')}")


@click.command()
@click.option("--channel")
@click.option("--action", "action_id")
@click.option("--limit", default=20, show_default=True)
@click.option("--personal", is_flag=True, help="Only the codes and links that prove contacts (sign-up, sign-in, phone codes).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def outbox(ctx, channel, action_id, limit, personal, as_json) -> None:
    """Messages that sandboxed channels would have sent (newest first)."""

    async def go():
        async with local_hub(config_from(ctx)) as hub:
            return await hub.store.outbox_list(channel=channel, action_id=action_id, limit=limit, personal=personal)

    items = run(go())
    if as_json:
        echo_json(items)
        return
    click.echo("SANDBOX OUTBOX: nothing here was sent to a provider")
    for m in items:
        click.echo(f"[{m['channel']}/{m['kind']}] to {m['address']} ({m['language']}): {m['text']}")


@click.command()
@click.option("--subject")
@click.pass_context
def audit(ctx, subject) -> None:
    """The audit log: every start, update and end, rules reloads and erasures."""

    async def go():
        async with local_hub(config_from(ctx)) as hub:
            return await hub.store.list_audit(subject=subject)

    for e in run(go()):
        click.echo(f"{readable_time(e['at'])}  {e['actor']:<20} {e['role']:<11} {e['verb']:<18} {e['subject']} "
                   f"{json.dumps(e['detail'], ensure_ascii=False)}")


def readable_time(at: float) -> str:
    """An audit time (seconds since the epoch) as local time with its UTC offset: 2026-03-10 23:30:05+01:00."""
    return datetime.fromtimestamp(float(at), tz=timezone.utc).astimezone().isoformat(sep=" ", timespec="seconds")
