"""``burgerhub serve`` runs the hub; ``burgerhub demo`` runs it with sample data and a scripted action."""

from __future__ import annotations

import asyncio
import errno
import shlex
import signal
import socket
import sys
from pathlib import Path

import click
from aiohttp import web

from ..actions import Actor
from ..api import create_app
from ..errors import HubError
from ..hub import Hub
from ..rules_admin import replace_rules
from .common import config_from, with_local_tokens


def register(cli: click.Group) -> None:
    cli.add_command(serve)
    cli.add_command(demo)


SIGNAL_ACTOR = Actor("SIGHUP", "operator")


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, taken before the hub starts, so a port in use is one line
    naming the port and the option, not a traceback after loading every participant."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise click.ClickException(f"cannot listen on {host}: {e.strerror}; set --host (or [api] host)") from e
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(512)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise click.ClickException(
                f"port {port} on {host} is already in use; choose another with --port (or [api] port)") from e
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    sock.setblocking(False)
    return sock


async def _serve(hub: Hub, host: str, port: int, after_start=None, *, stay: bool = True) -> None:
    sock = listen(host, port)
    app = create_app(hub)
    runner = web.AppRunner(app)
    try:
        await runner.setup()
    except BaseException:
        sock.close()
        raise
    site = web.SockSite(runner, sock)
    await site.start()
    click.echo(f"burgerhub listening on http://{host}:{port}/v1/  (Ctrl-C to stop)")
    if hub.config.console.enabled:
        click.echo(f"dispatcher console: http://{host}:{port}/console/")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    reloads: set[asyncio.Task] = set()

    def hangup() -> None:
        task = loop.create_task(reload_on_signal(hub))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, hangup)
    except (NotImplementedError, RuntimeError, AttributeError):
        pass
    cleanup = None
    try:
        if after_start is not None:
            # what ``after_start`` leaves running ends (with the callable it may return) before the hub stops
            cleanup = await after_start(hub)
        if stay:
            await stop.wait()
    finally:
        if cleanup is not None:
            await cleanup()
        await runner.cleanup()


async def reload_on_signal(hub: Hub) -> None:
    """``SIGHUP``: re-read the rules file, as ``POST /v1/routes/reload`` does; a bad file is logged and the
    rules in force stay."""
    try:
        result = await replace_rules(hub, SIGNAL_ACTOR, source=f"SIGHUP ({hub.rules.path})")
    except HubError as e:
        click.echo(f"rules not reloaded (the rules in force stay): {e}", err=True)
        return
    click.echo(f"rules reloaded from {result['source']}: {'changed' if result['changed'] else 'unchanged'}"
               + "".join(f"\n  warning: {w['field']}: {w['reason']}" for w in result["warnings"]), err=True)


def _banner(hub: Hub) -> None:
    for t in hub.config.tokens:
        click.echo(f"  {t.role:<10} token: {t.token}")
    click.echo(f"  tokens are kept in {_tokens_source(hub.config)}")
    for name, info in hub.channel_status().items():
        if info["status"] == "unavailable":
            click.echo(f"  channel {name:<14} UNAVAILABLE: {info['reason']}")
        else:
            label = "SANDBOX (no credentials: messages go to the outbox)" if info["mode"] == "sandbox" else "provider"
            click.echo(f"  channel {name:<14} {label}")


def _tokens_source(config) -> str:
    if config.tokens and not all(t.name.startswith("local-") for t in config.tokens):
        return f"{config.source or 'the configuration'} ([api] tokens)"
    if config.shared_database:
        return "the shared database (the same for every hub)"
    return str(config.data_dir / "tokens.json")


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
@click.option("--newcomer-minutes", type=click.FloatRange(min=0.01, max=24 * 60), default=5, show_default=True,
              help="How long the demo action started around a newcomer's first address runs before it ends as found.")
@click.pass_context
def demo(ctx, count, port, exit_after, newcomer_minutes) -> None:
    """Start the hub on its embedded defaults with sample participants and run a scripted action; while it
    serves on, each newcomer on the participant page gets a demo action around their first address."""
    from ..demo import run_demo, sample_participants, with_demo_app_keys
    from ..demo_newcomers import Newcomers

    config = with_demo_app_keys(with_local_tokens(config_from(ctx, **{"api.port": port})))
    hub = Hub(config)
    _banner(hub)

    async def script(hub: Hub):
        if await hub.store.count_participants() == 0:
            click.echo(f"creating {count} sample participants around Utrecht ...")
            await hub.registry.import_rows(sample_participants(count))
        newcomers = None
        if not exit_after:
            # following before the page's address is printed: a newcomer who signs up at once is seen
            newcomers = Newcomers(hub, click.echo, runs_seconds=newcomer_minutes * 60)
            await newcomers.start()
        await run_demo(hub, click.echo, command=_command_line(ctx), newcomer_minutes=None if exit_after else newcomer_minutes)
        return newcomers.stop if newcomers else None

    asyncio.run(_serve(hub, config.host, config.port, script, stay=not exit_after))


def _command_line(ctx: click.Context) -> str:
    """How to call this command line on the same configuration (for the lines the demo prints)."""
    program = Path(sys.argv[0])
    name = str(program) if program.name == "burgerhub" else "burgerhub"
    config = ctx.obj.get("config_path")
    return shlex.join([name, "--config", str(config)]) if config else name
