"""``burgerhub organisations``: load organisations from a file, list them, and manage their people's tokens.

A token is shown once, when it is made; the store keeps only its SHA-256. Issuing and revoking are in
the audit log.
"""

from __future__ import annotations

import click

from ..organisations import load_file
from ..store import AuditEntry
from .common import config_from, echo_json, local_hub, run

CLI = ("cli", "operator")


def register(cli: click.Group) -> None:
    cli.add_command(organisations)


@click.group()
def organisations() -> None:
    """Organisations that issue actions (territory, action types) and their people's tokens."""


@organisations.command("load")
@click.argument("path", type=click.Path(dir_okay=False))
@click.pass_context
def load(ctx, path: str) -> None:
    """Add or replace the organisations defined in a YAML file (see examples/organisations.yaml)."""
    items = load_file(path)

    async def go():
        async with local_hub(config_from(ctx)) as hub:
            for item in items:
                org = await hub.organisations.put(item)
                await hub.store.add_audit(AuditEntry(*CLI, "organisation.put", org.id, {"kind": org.kind}))
            return [item["id"] for item in items]

    echo_json({"loaded": run(go())})


@organisations.command("list")
@click.pass_context
def list_(ctx) -> None:
    """Every organisation (the national operator is always there)."""

    async def go():
        async with local_hub(config_from(ctx)) as hub:
            return [o.to_dict() for o in await hub.organisations.list()]

    echo_json({"organisations": run(go())})


@organisations.command("show")
@click.argument("org_id")
@click.pass_context
def show(ctx, org_id: str) -> None:
    """One organisation and its tokens (never the tokens themselves)."""

    async def go():
        async with local_hub(config_from(ctx)) as hub:
            org = await hub.organisations.require(org_id)
            return {**org.to_dict(), "tokens": [t.to_dict() for t in await hub.organisations.tokens(org_id)]}

    echo_json(run(go()))


@organisations.group("token")
def token() -> None:
    """People's tokens: add, list, revoke."""


@token.command("add")
@click.argument("org_id")
@click.argument("name")
@click.option("--role", type=click.Choice(["dispatcher", "operator"]), default="dispatcher", show_default=True)
@click.pass_context
def token_add(ctx, org_id: str, name: str, role: str) -> None:
    """Make a token for NAME of ORG_ID; it is printed once and kept only as a hash."""

    async def go():
        async with local_hub(config_from(ctx)) as hub:
            record, value = await hub.organisations.issue_token(org_id, name, role)
            await hub.store.add_audit(AuditEntry(*CLI, "organisation.token.issue", record.id,
                                                 {"organisation": org_id, "name": name, "role": role}))
            return {**record.to_dict(), "token": value}

    echo_json(run(go()))


@token.command("list")
@click.argument("org_id", required=False)
@click.pass_context
def token_list(ctx, org_id: str | None) -> None:
    """Tokens of one organisation, or of all."""

    async def go():
        async with local_hub(config_from(ctx)) as hub:
            return [t.to_dict() for t in await hub.organisations.tokens(org_id)]

    echo_json({"tokens": run(go())})


@token.command("revoke")
@click.argument("token_id")
@click.pass_context
def token_revoke(ctx, token_id: str) -> None:
    """Revoke a token by its id (``tok-...``); it stops working at once, on every hub."""

    async def go():
        async with local_hub(config_from(ctx)) as hub:
            record = await hub.organisations.revoke(token_id)
            await hub.store.add_audit(AuditEntry(*CLI, "organisation.token.revoke", token_id,
                                                 {"organisation": record.organisation}))
            return record.to_dict()

    echo_json(run(go()))
