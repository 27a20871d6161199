"""``burgerhub routes``: test where an action would go, and check a rules file before loading it."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from ..actions import Actor
from ..errors import HubError, ValidationError
from ..models import ActionType, Domain, TransportMode, Urgency
from ..plugins import collect_channels, make_plugin_manager
from ..routing import RouteFacts, RuleSet
from ..routing_lint import lint
from ..store.select import open_store
from .common import config_from, echo_json, local_hub, read_file, run


def register(cli: click.Group) -> None:
    cli.add_command(routes)


@click.group()
def routes() -> None:
    """Routing rules: which channels an action goes to."""


@routes.command("test")
@click.option("--type", "action_type", required=True, type=click.Choice([t.value for t in ActionType]))
@click.option("--urgency", required=True, type=click.Choice([u.value for u in Urgency]))
@click.option("--region", help="Region (province) id, e.g. utrecht.")
@click.option("--domain", type=click.Choice([d.value for d in Domain]))
@click.option("--lat", type=float, help="Incident latitude: with --lon, also count recipients.")
@click.option("--lon", type=float)
@click.option("--radius", "radius_m", type=float, help="Radius in metres.")
@click.option("--transport", type=click.Choice([t.value for t in TransportMode]), help="Radius from the mode of transport.")
@click.option("--rules", "rules_file", type=click.Path(exists=True, dir_okay=False), help="Test this file instead of the rules in force.")
@click.option("--at", "at", metavar="TIME",
              help="The moment to test at, e.g. 2026-03-10T23:30 (local time unless an offset is given); "
                   "quiet hours and availability depend on it. Default: now.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def test(ctx, action_type, urgency, region, domain, lat, lon, radius_m, transport, rules_file, at, as_json) -> None:
    """Show, without sending anything, which route and channels an action would take.

    With --lat/--lon (and --radius or --transport) it also counts who would be reached, from the
    participants of the hub that --config names, at the moment --at gives.
    """
    config = config_from(ctx)
    if (lat is None) != (lon is None):
        raise click.UsageError("--lat and --lon go together")
    moment = _moment(at)
    if lat is None:
        rules = RuleSet.load(read_file(rules_file) if rules_file else rules_in_force(config)[0])
        decision = rules.route(RouteFacts(type=action_type, urgency=urgency, region=region, domain=domain))
        result = {"route": decision.to_dict()}
    else:
        if radius_m is None and transport is None:
            raise click.UsageError("give --radius or --transport with --lat/--lon")
        area = {"type": "circle", "lat": lat, "lon": lon}
        if radius_m is not None:
            area["radius_m"] = radius_m
        if transport:
            area["transport"] = transport
        payload = {"type": action_type, "urgency": urgency, "description": "dry run", "area": area}
        if action_type == "crisis":
            payload["safety_advice"] = "dry run"
        if region:
            payload["region"] = region
        if domain:
            payload["domain"] = domain

        async def plan():
            async with local_hub(config) as hub:
                if rules_file:
                    hub.rules.reload(read_file(rules_file))
                return await hub.actions.plan(payload, Actor("cli", "operator"), at=moment)

        result = run(plan())
    if at:
        result["at"] = moment.isoformat()
    if as_json:
        echo_json(result)
        return
    _print(result)


def _moment(at: str | None) -> datetime:
    if not at:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError as e:
        raise click.BadParameter(f"{at!r} is not a time like 2026-03-10T23:30", param_hint="--at") from e
    return moment.astimezone() if moment.tzinfo is None else moment


def _print(result: dict) -> None:
    route = result["route"]
    click.echo(f"routes:   {', '.join(route['routes']) or '(none)'}")
    for applied in route.get("applied", []):
        click.echo(f"  path:   {' > '.join(applied.get('path') or [applied['route']])}: "
                   f"{', '.join(applied['channels']) or 'no channels'}")
    click.echo(f"channels: {', '.join(route['channels']) or '(none)'}")
    if result.get("at"):
        click.echo(f"at:       {result['at']}")
    if route.get("bypass_quiet_hours"):
        click.echo("quiet hours: bypassed")
    for step in route.get("trace", []):
        click.echo(f"  - {step}")
    audience = result.get("audience")
    if not audience:
        return
    if "radius_m" in audience:
        how = f" (from {audience['transport']})" if audience.get("transport") else ""
        click.echo(f"radius:   {audience['radius_m']:.0f} m{how}")
    if "in_area" in audience:
        click.echo(f"participants in the area: {audience['in_area']}")
    for name, info in audience["channels"].items():
        if "unavailable" in info:
            click.echo(f"  {name:<14} unavailable: {info['unavailable']}")
            continue
        mode = " [sandbox]" if info.get("sandbox") else ""
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(info.get("skipped", {}).items()) if v)
        click.echo(f"  {name:<14} {info['targeted']:>7} recipients{mode}" + (f"; skipped: {skipped}" if skipped else ""))


@routes.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--allow-gaps", is_flag=True, help="Accept rules that send some action type and urgency nowhere.")
@click.pass_context
def check(ctx, path, allow_gaps) -> None:
    """Validate a rules file as PUT /v1/routes does; prints the reason and exits 2 if it is wrong.

    Valid rules that cannot be what was meant (a route that can never match, a region that does not
    exist) are printed as warnings; the exit status stays 0.
    """
    config = config_from(ctx)
    try:
        rules = RuleSet.load(Path(path), known_channels=known_channels(config), allow_gaps=allow_gaps)
    except ValidationError as e:
        for field, reason in e.errors:
            click.echo(f"{path}: {field}: {reason}", err=True)
        raise SystemExit(2) from e
    except HubError as e:
        message = str(e)
        click.echo(message if message.startswith(str(path)) else f"{path}: {message}", err=True)
        raise SystemExit(2) from e
    for warning in lint(rules):
        click.echo(f"{path}: warning: {warning}", err=True)
    click.echo(f"{path}: OK ({len(rules.route_names())} routes)")


def known_channels(config) -> set[str]:
    """The channel names a hub with ``config`` would know (installed and not blocked)."""
    pm, report = make_plugin_manager(blocked=config.blocked_plugins, strict=False)
    return set(collect_channels(pm, report, strict=False))


@routes.command("show")
@click.pass_context
def show(ctx) -> None:
    """Print the rules in force (on a cluster: the version stored for every hub)."""
    text, where = rules_in_force(config_from(ctx))
    click.echo(f"# {where}", err=True)
    click.echo(text)


def rules_in_force(config) -> tuple[str, str]:
    """The text of the rules in force and where it is kept: on a shared database the stored version
    (:mod:`hub.rules_cluster`) once one is stored; else the rules file."""
    if config.shared_database:
        async def stored():
            store = open_store(config.database, config.database_path)
            await store.open()
            try:
                return await store.active_rules()
            finally:
                await store.close()

        found = run(stored())
        if found is not None:
            return found.text, (f"version {found.version} stored for the cluster"
                                f" (loaded by {found.actor} from {found.source})")
    return config.rules_in_force.read_text(), str(config.rules_in_force)
