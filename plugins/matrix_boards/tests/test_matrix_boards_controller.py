"""The reference controller: board drawing, and ``burgerhub sign --once`` against a real broker."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import click
from click.testing import CliRunner

from hub.models import MessageKind, Notice
from hub.testing import make_action, make_context, make_deliveries, started
from plugins.matrix_boards import MatrixBoardsChannel, register_commands
from plugins.matrix_boards.channel import RegionState
from plugins.matrix_boards.controller import Board, draw_box

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


def state_for(*actions, **settings) -> bytes:
    channel = MatrixBoardsChannel(make_context("matrix_boards", settings, sandbox=True, channel_cls=MatrixBoardsChannel))
    state = RegionState("utrecht")
    for a in actions:
        state.apply(Notice(action=a, kind=MessageKind.START), NOW)
    state.sequence = len(actions)
    return channel.state_message(state, NOW)


def test_draw_box():
    assert draw_box(["abc", "de"], 5, 3, title="r", footer="1/2") == "\n".join(
        ["┌─ r ───┐", "│ abc   │", "│ de    │", "│       │", "└─ 1/2 ─┘"]
    )


def test_board_shows_the_hub_layout_and_blanks_on_a_cleared_state():
    board = Board(region="utrecht")
    board.on_message("state", state_for(make_action()))
    assert board.draw(now=NOW).splitlines()[1:4] == [
        "│ BURGERNET: VERMISSING        │",
        "│ Jongen van 5 vermist         │",
        "│ Gezien? Bel 0800 0011        │",
    ]
    board.on_message("state", b"")
    assert board.screens(NOW) == []
    assert set("".join(board.draw(now=NOW).splitlines()[1:4])) <= {"│", " "}


def test_board_relays_for_its_own_size_and_rotates():
    first = make_action(id="act-a-000000001", started_at=NOW - timedelta(hours=2))
    second = make_action(id="act-b-000000002", title="Meisje van 8 vermist", started_at=NOW - timedelta(hours=1))
    board = Board(region="utrecht", lines=2, width=16)
    board.on_message("state", state_for(first, second))
    assert board.screens(NOW) == [["Meisje van 8", "vermist"], ["Jongen van 5", "vermist"]]
    assert "1/2" in board.draw(0, NOW) and "2/2" in board.draw(1, NOW) and "1/2" in board.draw(2, NOW)
    board.on_message("status", json.dumps({"schema_version": "1.0", "status": "offline"}).encode())
    assert "hub offline" in board.draw(0, NOW)


def test_board_hides_expired_actions_ignores_stale_and_unknown_versions():
    board = Board(region="utrecht")
    board.on_message("state", state_for(make_action(expires_at=NOW + timedelta(minutes=1))))
    assert len(board.screens(NOW)) == 1
    assert board.screens(NOW + timedelta(minutes=2)) == []  # past expires_at, even without a new state
    newer = json.loads(state_for(make_action(), make_action(id="act-other-0000002")))
    board.on_message("state", json.dumps(newer).encode())
    board.on_message("state", state_for(make_action()))  # sequence 1 < 2: an older state arriving late
    assert len(board.screens(NOW)) == 2
    board.on_message("state", json.dumps({**newer, "schema_version": "2.0", "sequence": 9}).encode())
    board.on_message("state", b"{not json")
    assert len(board.screens(NOW)) == 2 and len(board.warnings) == 2


def test_long_and_ticker_forms():
    payload = state_for(make_action(), lines=2, width=20)
    long_board = Board(region="utrecht", form="long")
    long_board.on_message("state", payload)
    pages = long_board.screens(NOW)
    assert len(pages) > 2 and all(len(p) <= 2 for p in pages)
    ticker = Board(region="utrecht", form="ticker")
    ticker.on_message("state", payload)
    assert ticker.screens(NOW)[0][0].startswith("BURGERNET: VERMISSING - Jongen van 5 vermist - ")


def cli() -> click.Group:
    group = click.Group("burgerhub")
    register_commands(cli=group)
    return group


async def test_sign_command_prints_the_current_board(mosquitto):
    settings = {"host": "127.0.0.1", "port": mosquitto.port, "regions": ["utrecht"]}
    async with started(MatrixBoardsChannel(make_context("matrix_boards", settings,
                                                        channel_cls=MatrixBoardsChannel))) as channel:
        assert await channel.link.wait_connected(5)
        await channel.deliver(Notice(action=make_action(), kind=MessageKind.START),
                              make_deliveries(["utrecht"], channel="matrix_boards"))
        args = ["sign", "--region", "utrecht", "--host", "127.0.0.1", "--port", str(mosquitto.port), "--once"]
        result = await asyncio.to_thread(CliRunner().invoke, cli(), args)
        assert result.exit_code == 0, result.output
        assert "│ Jongen van 5 vermist         │" in result.output
        assert result.output.startswith("┌─ utrecht ─")

        small = await asyncio.to_thread(CliRunner().invoke, cli(), [*args, "--lines", "2", "--width", "16"])
        assert "│ Jongen van 5     │\n│ vermist          │" in small.output

        other = await asyncio.to_thread(CliRunner().invoke, cli(), [*args[:2], "zeist", *args[3:]])
        assert other.exit_code == 0 and "vermist" not in other.output


async def test_sign_command_reports_an_unreachable_broker(mosquitto):
    await mosquitto.kill()
    args = ["sign", "--region", "utrecht", "--port", str(mosquitto.port), "--host", "127.0.0.1", "--once",
            "--timeout", "0.5"]
    result = await asyncio.to_thread(CliRunner().invoke, cli(), args)
    assert result.exit_code == 1 and "could not reach the MQTT broker" in result.output


def test_sign_command_rejects_a_bad_region():
    result = CliRunner().invoke(cli(), ["sign", "--region", "a/#"])
    assert result.exit_code == 2 and "--region" in result.output
