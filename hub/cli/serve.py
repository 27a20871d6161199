"""``burgerhub serve`` runs the hub; ``burgerhub demo`` runs it with sample data and a scripted action."""

from __future__ import annotations

import asyncio
import signal

import click
from aiohttp import web

from ..api import create_app
from ..hub import Hub
from .common import config_from, with_local_tokens


def register(cli: click.Group) -> None:
    cli.add_command(serve)
    cli.add_command(demo)


async def _serve(hub: Hub, host: str, port: int, after_start=None, *, stay: bool = True) -> None:
    app = create_app(hub)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    click.echo(f"burgerhub listening on http://{host}:{port}/v1/  (Ctrl-C to stop)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        if after_start is not None:
            await after_start(hub)
        if stay:
            await stop.wait()
    finally:
        await runner.cleanup()


def _banner(hub: Hub) -> None:
    for t in hub.config.tokens:
        click.echo(f"  {t.role:<10} token: {t.token}")
    for name, info in hub.channel_status().items():
        if info["status"] == "unavailable":
            click.echo(f"  channel {name:<14} UNAVAILABLE: {info['reason']}")
        else:
            label = "SANDBOX (no credentials: messages go to the outbox)" if info["mode"] == "sandbox" else "provider"
            click.echo(f"  channel {name:<14} {label}")


@click.command()
@click.option("--host", help="Address to listen on (default from config: 127.0.0.1).")
@click.option("--port", type=int, help="Port (default from config: 8080).")
@click.pass_context
def serve(ctx, host, port) -> None:
    """Run the hub and its HTTP API."""
    config = with_local_tokens(config_from(ctx, **{"api.host": host, "api.port": port}))
    hub = Hub(config)
    _banner(hub)
    asyncio.run(_serve(hub, config.host, config.port))


@click.command()
@click.option("--participants", "count", default=2000, show_default=True, help="Sample participants to create.")
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--exit", "exit_after", is_flag=True, help="Stop after the scripted action instead of serving on.")
@click.pass_context
def demo(ctx, count, port, exit_after) -> None:
    """Start the hub on its embedded defaults with sample participants and run a scripted action."""
    from ..demo import run_demo, sample_participants, with_demo_app_keys

    config = with_demo_app_keys(with_local_tokens(config_from(ctx, **{"api.port": port})))
    hub = Hub(config)
    _banner(hub)

    async def script(hub: Hub) -> None:
        if await hub.store.count_participants() == 0:
            click.echo(f"creating {count} sample participants around Utrecht ...")
            await hub.registry.import_rows(sample_participants(count))
        await run_demo(hub, click.echo)

    asyncio.run(_serve(hub, config.host, config.port, script, stay=not exit_after))
