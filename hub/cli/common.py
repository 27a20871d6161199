"""Shared helpers for CLI commands: loading the config, running a hub for one command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any, AsyncIterator

import click

from ..config import ApiToken, Config, load_config
from ..hub import Hub


def config_from(ctx: click.Context, **overrides: Any) -> Config:
    return load_config(ctx.obj.get("config_path"), overrides={k: v for k, v in overrides.items() if v is not None})


def with_local_tokens(config: Config) -> Config:
    """With no tokens configured, create (once) a dispatcher and an operator token in the data folder
    (in the shared database on PostgreSQL, so every hub of a cluster accepts them)."""
    if config.tokens:
        return config
    path = config.data_dir / "tokens.json"
    if config.shared_database:
        # every hub of a cluster must accept the same tokens: they live in the shared database
        from ..shared import shared_values

        proposals = {f"local_token:{role}": f"{role[:4]}_{secrets.token_urlsafe(24)}" for role in ("dispatcher", "operator")}
        data = {k.split(":", 1)[1]: v for k, v in shared_values(config.database, proposals).items()}
    elif path.exists():
        data = json.loads(path.read_text())
    else:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        data = {role: f"{role[:4]}_{secrets.token_urlsafe(24)}" for role in ("dispatcher", "operator")}
        path.write_text(json.dumps(data, indent=2))
        path.chmod(0o600)
    return replace(config, tokens=tuple(ApiToken(name=f"local-{r}", role=r, token=t) for r, t in data.items()))


@contextlib.asynccontextmanager
async def local_hub(config: Config, *, engine: bool = False) -> AsyncIterator[Hub]:
    """A hub on the local store for one command; by default without delivering anything itself."""
    hub = Hub(config)
    await hub.start(engine=engine)
    try:
        yield hub
    finally:
        await hub.stop()


def run(coro) -> Any:
    return asyncio.run(coro)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def read_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise click.BadParameter(f"cannot read {path}: {e.strerror}") from e
