"""The matrix_boards channel against a real Mosquitto broker started by the test."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from matrix_boards_support import validate_message

from hub.errors import TransientDeliveryError
from hub.models import MessageKind, Notice, ReceiptStatus, Recipient, Result
from hub.testing import make_action, make_context, make_deliveries, started
from plugins.matrix_boards import MatrixBoardsChannel
from plugins.matrix_boards.contract import Topics

TOPICS = Topics()
STATE = TOPICS.state("utrecht")


def make_channel(port: int, records=None, **settings) -> MatrixBoardsChannel:
    base = {
        "host": "127.0.0.1",
        "port": port,
        "publish_timeout": 5,
        "reconnect_min_delay": 0.1,
        "reconnect_max_delay": 1.0,
        "regions": [{"id": "utrecht", "lat": 52.0894, "lon": 5.11, "radius_m": 8000}, "zeist"],
    }
    ctx = make_context("matrix_boards", {**base, **settings}, channel_cls=MatrixBoardsChannel)
    if records is not None:
        ctx = replace(ctx, records=records)
    return MatrixBoardsChannel(ctx)


async def send(channel: MatrixBoardsChannel, kind: MessageKind, action, regions=("utrecht",)):
    notice = Notice(action=action, kind=kind)
    deliveries = make_deliveries(list(regions), channel="matrix_boards", kind=kind, action_id=action.id)
    return await channel.deliver(notice, deliveries)


def ended(action, result=Result.FOUND):
    return replace(action, status="ended", result=result, ended_at=datetime.now(timezone.utc))


async def connected(channel: MatrixBoardsChannel) -> None:
    assert await channel.link.wait_connected(5), channel.link.last_error


async def test_late_subscriber_sees_the_retained_state(mosquitto, recorder):
    action = make_action()
    async with started(make_channel(mosquitto.port)) as channel:
        await connected(channel)
        receipts = await send(channel, MessageKind.START, action)
        assert [r.status for r in receipts] == [ReceiptStatus.SENT]
        assert receipts[0].detail == {"topic": STATE, "sequence": 1}

        async with recorder() as late:  # subscribes only now: gets what is retained
            [(payload, retained)] = late.on(STATE)
            assert retained
            state = validate_message(TOPICS, STATE, payload)
            assert [a["id"] for a in state["actions"]] == [action.id]
            block = state["actions"][0]
            assert block["short"] == ["BURGERNET: VERMISSING", "Jongen van 5 vermist", "Gezien? Bel 0800 0011"]
            assert block["photo_url"] == "https://img.example.org/boy.jpg"
            assert block["expires_at"] is None and block["started_at"] == "2026-11-23T14:00:00Z"
            status = json.loads(late.last(TOPICS.status))
            assert status["status"] == "online"


async def test_end_clears_the_retained_state(mosquitto, recorder):
    action = make_action()
    async with started(make_channel(mosquitto.port)) as channel:
        await connected(channel)
        async with recorder() as live:
            await send(channel, MessageKind.START, action)
            await live.wait_for(lambda: live.last(STATE))
            receipts = await send(channel, MessageKind.END, ended(action))
            assert receipts[0].status is ReceiptStatus.SENT
            await live.wait_for(lambda: live.last(STATE) == b"")  # live subscribers are told to blank
            end_events = [json.loads(p) for p, _ in live.on(TOPICS.events("utrecht"))]
            assert [e["event"] for e in end_events] == ["start", "end"]
            assert end_events[1]["result"] == "found"
            assert end_events[1]["action"]["short"] == ["De vermiste persoon is", "gevonden.", "Dank voor uw hulp."]
            assert end_events[1]["action"]["photo_url"] is None

        async with recorder() as late:  # and nothing is retained any more
            assert late.on(STATE) == []


async def test_end_of_one_action_keeps_the_other_on_the_sign(mosquitto, recorder):
    first = make_action(id="act-first-000001", started_at=datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc))
    second = make_action(id="act-second-00002", title="Meisje van 8 vermist",
                         started_at=datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc))
    async with started(make_channel(mosquitto.port)) as channel:
        await connected(channel)
        await send(channel, MessageKind.START, first)
        await send(channel, MessageKind.START, second)
        async with recorder() as late:
            state = json.loads(late.last(STATE))
            assert [a["id"] for a in state["actions"]] == [second.id, first.id]  # newest first
        await send(channel, MessageKind.END, ended(first))
        async with recorder() as late:
            state = json.loads(late.last(STATE))
            assert [a["id"] for a in state["actions"]] == [second.id]
            assert state["sequence"] == 3


async def test_update_replaces_the_text_and_stale_retries_change_nothing(mosquitto, recorder):
    action = make_action()
    updated = replace(action, version=2, title="Jongen (5) vermist, blauwe pet")
    async with started(make_channel(mosquitto.port)) as channel:
        await connected(channel)
        await send(channel, MessageKind.START, action)
        await send(channel, MessageKind.UPDATE, updated)
        await send(channel, MessageKind.START, action)  # a late retry of the first start
        async with recorder() as late:
            state = json.loads(late.last(STATE))
            assert state["actions"][0]["short"] == ["Jongen (5) vermist, blauwe", "pet", "Gezien? Bel 0800 0011"]
            assert state["actions"][0]["version"] == 2 and state["sequence"] == 2
        await send(channel, MessageKind.END, ended(updated))
        await send(channel, MessageKind.START, action)  # a retry after the end must not resurrect it
        async with recorder() as late:
            assert late.on(STATE) == []


async def test_sign_state_returns_after_a_broker_restart_without_persistence(mosquitto, recorder):
    action = make_action()
    async with started(make_channel(mosquitto.port)) as channel:
        await connected(channel)
        await send(channel, MessageKind.START, action)
        connects = channel.link.connects

        await mosquitto.restart()  # SIGKILL, then a fresh broker that remembers nothing
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        async with recorder(TOPICS.state("+")) as sub:
            await sub.wait_for(lambda: sub.last(STATE), timeout=10)
        assert loop.time() - t0 < 10
        assert json.loads(sub.last(STATE))["actions"][0]["id"] == action.id
        assert channel.link.connects == connects + 1


async def test_changes_while_the_broker_is_down_are_kept_and_published_later(mosquitto, recorder):
    first, second = make_action(id="act-one-0000001"), make_action(id="act-two-0000002")
    async with started(make_channel(mosquitto.port, publish_timeout=0.3)) as channel:
        await connected(channel)
        await send(channel, MessageKind.START, first)
        await mosquitto.kill()
        with pytest.raises(TransientDeliveryError) as caught:
            await send(channel, MessageKind.START, second)
        assert caught.value.retry_after and caught.value.code == "broker_unavailable"
        with pytest.raises(TransientDeliveryError):
            await send(channel, MessageKind.END, ended(first))
        assert channel.link.queued >= 1

        await mosquitto.start()
        async with recorder(TOPICS.state("+")) as sub:
            await sub.wait_for(lambda: sub.last(STATE), timeout=10)
            state = json.loads(sub.last(STATE))
        assert [a["id"] for a in state["actions"]] == [second.id]
        # the hub's retry of the failed delivery is harmless
        receipts = await send(channel, MessageKind.START, second)
        assert receipts[0].status is ReceiptStatus.SENT


async def test_hub_restart_republishes_from_its_records(mosquitto, recorder):
    action = make_action()
    first = make_channel(mosquitto.port)
    async with started(first):
        await connected(first)
        await send(first, MessageKind.START, action)
    await mosquitto.restart()  # the broker forgot everything while the hub was down
    async with started(make_channel(mosquitto.port, records=first.context.records)) as again:
        await connected(again)
        async with recorder() as late:
            await late.wait_for(lambda: late.last(STATE))
            assert json.loads(late.last(STATE))["actions"][0]["id"] == action.id


async def test_last_will_announces_offline_when_the_connection_dies(mosquitto, recorder):
    async with started(make_channel(mosquitto.port, keepalive=5)) as channel:
        await connected(channel)
        async with recorder(TOPICS.status) as sub:
            await sub.wait_for(lambda: sub.last(TOPICS.status))
            assert json.loads(sub.last(TOPICS.status))["status"] == "online"
            # cut the TCP connection under paho: no DISCONNECT, so the broker sends the will
            channel.link._client.socket().shutdown(2)
            statuses = lambda: [json.loads(p)["status"] for p, _ in sub.on(TOPICS.status)]  # noqa: E731
            await sub.wait_for(lambda: statuses()[-2:] == ["offline", "online"], timeout=10)
            will = json.loads(sub.on(TOPICS.status)[-2][0])
            assert "since" not in will


async def test_clean_shutdown_publishes_offline(mosquitto, recorder):
    async with started(make_channel(mosquitto.port)) as channel:
        await connected(channel)
    async with recorder(TOPICS.status) as late:
        status = json.loads(late.last(TOPICS.status))
        assert status["status"] == "offline" and "since" in status


async def test_expired_actions_are_swept_off_the_sign(mosquitto, recorder):
    soon = datetime.now(timezone.utc) + timedelta(minutes=5)
    action = make_action(expires_at=soon)
    async with started(make_channel(mosquitto.port)) as channel:
        await connected(channel)
        await send(channel, MessageKind.START, action)
        async with recorder() as live:
            assert json.loads(live.last(STATE))["actions"][0]["expires_at"] == soon.isoformat(timespec="seconds").replace("+00:00", "Z")
            assert await channel.sweep_expired(soon - timedelta(seconds=1)) == []
            assert await channel.sweep_expired(soon + timedelta(seconds=1)) == ["utrecht"]
            await live.wait_for(lambda: live.last(STATE) == b"")


async def test_regions_of_an_action_each_get_their_state(mosquitto, recorder):
    action = make_action()
    async with started(make_channel(mosquitto.port, width=24, lines=4, uppercase=True)) as channel:
        await connected(channel)
        audience = await channel.resolve_audience(action)
        assert [r.address for r in audience] == ["utrecht"]
        await send(channel, MessageKind.START, action, regions=("utrecht", "zeist"))
        async with recorder(TOPICS.state("+")) as late:
            for region in ("utrecht", "zeist"):
                state = json.loads(late.last(TOPICS.state(region)))
                assert state["layout"] == {"lines": 4, "width": 24, "charset": "ascii", "uppercase": True}
                assert state["actions"][0]["short"][0] == "BURGERNET: VERMISSING"


@pytest.mark.skipif(shutil.which("mosquitto_sub") is None, reason="mosquitto_sub (mosquitto-clients) not installed")
async def test_mosquitto_sub_reads_the_same_contract(mosquitto):
    action = make_action(title="Zoë (7) vermist — ‘rode’ jas")
    async with started(make_channel(mosquitto.port)) as channel:
        await connected(channel)
        await send(channel, MessageKind.START, action)
        proc = await asyncio.create_subprocess_exec(
            "mosquitto_sub", "-h", "127.0.0.1", "-p", str(mosquitto.port), "-t", "burgerhub/v1/signs/utrecht/#",
            "-v", "--retained-only", "-C", "1", "-W", "5",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
    topic, payload = out.decode().splitlines()[0].split(" ", 1)
    state = validate_message(TOPICS, topic, payload.encode())
    assert topic == STATE
    assert state["actions"][0]["short"][1] == "Zoe (7) vermist - 'rode' jas"


async def test_sandbox_needs_no_broker():
    channel = MatrixBoardsChannel(make_context("matrix_boards", {"regions": ["utrecht"]}, sandbox=True,
                                               channel_cls=MatrixBoardsChannel))
    async with started(channel):
        assert channel.link is None
        assert [r.address for r in await channel.resolve_audience(make_action())] == ["utrecht"]
        rendered = channel.render(Notice(action=make_action(), kind=MessageKind.START), Recipient(address="utrecht"))
        assert rendered.extra["topic"] == STATE
