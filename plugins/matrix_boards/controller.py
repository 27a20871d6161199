"""A reference signage controller: ``burgerhub sign --region R`` draws a region's board in the terminal.

It is what a third-party controller does, in a few lines: subscribe to
``<prefix>/v1/signs/<region>/state`` (retained, so the current board arrives at once), the region's
``events`` and the hub's status; treat a zero-length state as "blank the sign"; hide actions past their
``expires_at``; rotate through the active actions. When its own size differs from the hub's layout
it lays the payload's ``paragraphs`` out again with the same rules the hub uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import click

from . import layout
from .contract import Topics, aware

DEFAULT_LINES = 3
DEFAULT_WIDTH = 28


def draw_box(rows: list[str], width: int, height: int, *, title: str = "", footer: str = "") -> str:
    """``rows`` in a box of ``height`` lines of ``width`` characters, drawn with box-drawing characters."""
    top_label = f" {title} " if title else ""
    bottom_label = f" {footer} " if footer else ""
    inner = width + 2
    top = "┌─" + top_label[: inner - 1] + "─" * max(0, inner - 1 - len(top_label)) + "┐"
    bottom = "└" + "─" * max(0, inner - 1 - len(bottom_label)) + bottom_label[: inner - 1] + "─┘"
    padded = (rows + [""] * height)[:height]
    return "\n".join([top, *(f"│ {row[:width].ljust(width)} │" for row in padded), bottom])


@dataclass
class Board:
    """What a controller for one region knows: the current state payload and the hub's status."""

    region: str
    lines: int | None = None
    width: int | None = None
    form: str = "short"
    state: dict[str, Any] | None = None
    hub_status: str | None = None
    last_event: str | None = None
    warnings: list[str] = field(default_factory=list)

    def size(self) -> tuple[int, int]:
        hub = (self.state or {}).get("layout", {})
        return self.lines or hub.get("lines", DEFAULT_LINES), self.width or hub.get("width", DEFAULT_WIDTH)

    def on_message(self, leaf: str, payload: bytes) -> None:
        if leaf == "state" and not payload:
            self.state = None  # cleared retained state: nothing active in this region
            return
        try:
            data = json.loads(payload)
        except ValueError:
            self.warnings.append(f"ignored a {leaf} message that is not JSON")
            return
        if not str(data.get("schema_version", "")).startswith("1."):
            self.warnings.append(f"ignored a {leaf} message of schema version {data.get('schema_version')!r}")
            return
        if leaf == "state":
            if self.state and data.get("sequence", 0) < self.state.get("sequence", 0):
                return  # an older state overtaken by a newer one
            self.state = data
        elif leaf == "events":
            self.last_event = f"{data.get('event')} {data.get('action', {}).get('reference', '')}".strip()
        elif leaf == "status":
            self.hub_status = data.get("status")

    def active(self, now: datetime) -> list[dict[str, Any]]:
        actions = (self.state or {}).get("actions", [])
        return [a for a in actions if not a.get("expires_at") or aware(datetime.fromisoformat(
            a["expires_at"].replace("Z", "+00:00"))) > now]

    def screens(self, now: datetime | None = None) -> list[list[str]]:
        """Every screen to rotate through: one per action (short), or each of their pages (long)."""
        now = now or datetime.now(timezone.utc)
        lines, width = self.size()
        hub = (self.state or {}).get("layout", {})
        same = hub.get("lines") == lines and hub.get("width") == width
        out: list[list[str]] = []
        for action in self.active(now):
            paragraphs = action.get("paragraphs", {})
            if self.form == "long":
                out.extend(action["long"] if same else layout.paginate(paragraphs.get("long", []), lines, width))
            elif self.form == "ticker":
                out.append([action["ticker"]])
            else:
                out.append(action["short"] if same else layout.fit(paragraphs.get("short", []), lines, width))
        return out

    def draw(self, index: int = 0, now: datetime | None = None) -> str:
        lines, width = self.size()
        screens = self.screens(now)
        footer = []
        if len(screens) > 1:
            footer.append(f"{index % len(screens) + 1}/{len(screens)}")
        if self.hub_status == "offline":
            footer.append("hub offline")
        if self.form == "ticker":
            rows = [s[0] for s in screens]
            return draw_box(rows, max([width, *map(len, rows)]), max(1, len(rows)), title=self.region)
        rows = screens[index % len(screens)] if screens else []
        return draw_box(rows, width, lines, title=self.region, footer=" ".join(footer))


async def run_controller(
    *,
    region: str,
    host: str,
    port: int,
    prefix: str,
    board: Board,
    once: bool,
    timeout: float,
    interval: float,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
    tls: bool = False,
    echo: Callable[[str], None] = click.echo,
    clear: bool = False,
) -> int:
    from .link import BrokerConfig, MqttLink

    topics = Topics(prefix)
    tls_ctx = None
    if tls or ca_file:
        import ssl

        tls_ctx = await asyncio.to_thread(ssl.create_default_context, cafile=ca_file)
    changed = asyncio.Event()

    def on_message(topic: str, payload: bytes, retained: bool) -> None:
        parsed = topics.parse(topic)
        if parsed is None or parsed[0] not in ("", region):
            return
        board.on_message(parsed[1], payload)
        changed.set()

    link = MqttLink(
        BrokerConfig(
            host=host, port=port, username=username, password=password, tls=tls_ctx,
            client_id=f"sign-{region}-{uuid.uuid4().hex[:8]}", reconnect_max_delay=5.0,
        ),
        on_message=on_message,
    )
    await link.subscribe(topics.state(region), topics.events(region))
    await link.start()
    try:
        if not await link.wait_connected(timeout):
            echo(f"could not reach the MQTT broker at {host}:{port} ({link.last_error or 'timeout'})")
            return 1
        if once:
            # a later SUBSCRIBE is answered after the retained messages of the earlier one
            await asyncio.wait_for(link.subscribe(topics.status), timeout)
            await asyncio.sleep(0)
            echo(board.draw())
            return 0
        await link.subscribe(topics.status)
        index = 0
        while True:
            for warning in board.warnings:
                echo(f"warning: {warning}")
            board.warnings.clear()
            echo(("\x1b[H\x1b[2J" if clear else "") + board.draw(index))
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), interval)
            if not changed.is_set():
                index += 1
    finally:
        await link.close()


@click.command("sign")
@click.option("--region", required=True, help="Region id, as in the hub's matrix_boards settings.")
@click.option("--host", default="localhost", show_default=True, help="MQTT broker host.")
@click.option("--port", type=int, default=None, help="Broker port [default: 1883, 8883 with TLS].")
@click.option("--username", default=None, help="MQTT user name (the controller's, from the broker ACL).")
@click.option("--password", default=None, envvar="BURGERHUB_SIGN_PASSWORD", help="MQTT password [env BURGERHUB_SIGN_PASSWORD].")
@click.option("--tls", is_flag=True, help="Connect with TLS.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), default=None, help="CA bundle for TLS.")
@click.option("--prefix", default="burgerhub", show_default=True, help="Topic prefix (the hub's topic_prefix).")
@click.option("--lines", type=click.IntRange(1, 32), default=None, help="Lines on the sign [default: the hub's layout].")
@click.option("--width", type=click.IntRange(8, 256), default=None, help="Characters per line [default: the hub's layout].")
@click.option("--form", type=click.Choice(["short", "long", "ticker"]), default="short", show_default=True)
@click.option("--interval", type=float, default=4.0, show_default=True, help="Seconds per screen when rotating.")
@click.option("--once", is_flag=True, help="Print the current board and exit.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the broker.")
def sign_command(region, host, port, username, password, tls, ca_file, prefix, lines, width, form, interval, once, timeout):
    """Show a region's matrix sign in the terminal, as a signage controller would."""
    from .regions import REGION_ID

    if not REGION_ID.match(region):
        raise click.BadParameter("lower-case letters, digits, '-' and '_' only", param_hint="--region")
    board = Board(region=region, lines=lines, width=width, form=form)
    try:
        code = asyncio.run(
            run_controller(
                region=region, host=host, port=port or (8883 if tls or ca_file else 1883), prefix=prefix,
                board=board, once=once, timeout=timeout, interval=interval, username=username,
                password=password, ca_file=ca_file, tls=tls, clear=not once and sys.stdout.isatty(),
            )
        )
    except KeyboardInterrupt:
        code = 0
    raise SystemExit(code)
