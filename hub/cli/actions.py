"""``burgerhub actions``: start, update, end and inspect actions on the local store.

A running ``burgerhub serve`` on the same store picks the queued messages up and delivers them.
"""

from __future__ import annotations

import click

from ..actions import Actor
from ..models import ActionType, Result, TransportMode, Urgency
from .common import config_from, echo_json, local_hub, run

CLI_ACTOR = Actor("cli", "dispatcher")


def register(cli: click.Group) -> None:
    cli.add_command(actions)


@click.group()
def actions() -> None:
    """Actions: start, update, end, show."""


@actions.command("start")
@click.option("--type", "action_type", required=True, type=click.Choice([t.value for t in ActionType]))
@click.option("--urgency", required=True, type=click.Choice([u.value for u in Urgency]))
@click.option("--description", required=True)
@click.option("--lat", type=float, required=True)
@click.option("--lon", type=float, required=True)
@click.option("--radius", "radius_m", type=float)
@click.option("--transport", type=click.Choice([t.value for t in TransportMode]))
@click.option("--region")
@click.option("--photo-url", "photos", multiple=True)
@click.option("--safety-advice", help="What recipients should do for their own safety (required for a crisis).")
@click.option("--nl-alert", is_flag=True, help="An NL-Alert went out too: messages refer to it.")
@click.option("--expires-in", "expires_in_minutes", type=int, help="Minutes until it ends by itself without result.")
@click.option("--dry-run", is_flag=True, help="Plan only: show channels and recipients, send nothing.")
@click.pass_context
def start(ctx, action_type, urgency, description, lat, lon, radius_m, transport, region, photos, safety_advice,
          nl_alert, expires_in_minutes, dry_run) -> None:
    area = {"type": "circle", "lat": lat, "lon": lon}
    if radius_m:
        area["radius_m"] = radius_m
    if transport:
        area["transport"] = transport
    payload = {"type": action_type, "urgency": urgency, "description": description, "area": area}
    if region:
        payload["region"] = region
    if photos:
        payload["photos"] = [{"url": u} for u in photos]
    if safety_advice:
        payload["safety_advice"] = safety_advice
    if nl_alert:
        payload["nl_alert"] = True
    if expires_in_minutes is not None:
        payload["expires_in_minutes"] = expires_in_minutes

    async def go():
        async with local_hub(config_from(ctx)) as hub:
            if dry_run:
                return await hub.actions.plan(payload, CLI_ACTOR)
            return await hub.actions.start(payload, CLI_ACTOR)

    echo_json(run(go()))


@actions.command("end")
@click.argument("action_id")
@click.option("--result", required=True, type=click.Choice([r.value for r in Result]))
@click.option("--text", help="Extra words for the closing message.")
@click.option("--solved-by-participants", is_flag=True, help="Information from participants led to the result.")
@click.pass_context
def end(ctx, action_id, result, text, solved_by_participants) -> None:
    payload = {"result": result, **({"text": text} if text else {})}
    if solved_by_participants:
        payload["solved_by_participants"] = True

    async def go():
        async with local_hub(config_from(ctx)) as hub:
            return await hub.actions.end(action_id, payload, CLI_ACTOR)

    data = run(go())
    click.echo(f"ended {action_id}: closing message queued for {data['queued']['end']} recipients")


@actions.command("show")
@click.argument("action_id")
@click.pass_context
def show(ctx, action_id) -> None:
    async def go():
        async with local_hub(config_from(ctx)) as hub:
            return await hub.actions.get(action_id)

    echo_json(run(go()))


@actions.command("list")
@click.option("--status", type=click.Choice(["active", "ended"]))
@click.pass_context
def list_(ctx, status) -> None:
    async def go():
        async with local_hub(config_from(ctx)) as hub:
            return await hub.store.list_actions(status=status)

    for a in run(go()):
        click.echo(f"{a['id']}  {a['status']:<6} {a['type']:<22} {a['urgency']:<13} {a['description'][:50]}")
