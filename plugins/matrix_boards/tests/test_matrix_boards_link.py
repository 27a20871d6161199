"""The paho-on-asyncio link: PUBACK futures, queueing, coalescing, reconnects, TLS and the example ACL."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pwd
import re
import socket
import ssl
import uuid

import pytest
from matrix_boards_support import REPO, Broker, make_certificates, password_line

from hub.models import MessageKind, Notice, ReceiptStatus
from hub.testing import make_action, make_context, make_deliveries, started
from plugins.matrix_boards import MatrixBoardsChannel
from plugins.matrix_boards.contract import Topics
from plugins.matrix_boards.link import BrokerConfig, LinkClosed, MqttLink, PublishRefused

TOPICS = Topics()


def link(port: int, **overrides) -> MqttLink:
    config = dict(host="127.0.0.1", port=port, reconnect_min_delay=0.05, reconnect_max_delay=0.2, connect_timeout=2)
    return MqttLink(BrokerConfig(**{**config, **overrides}))


async def retained(port: int, topic: str, **overrides) -> list[bytes]:
    """What a fresh subscriber gets as retained on ``topic``."""
    got: list[bytes] = []
    sub = MqttLink(
        BrokerConfig(host="127.0.0.1", port=port, client_id=f"probe-{uuid.uuid4().hex[:6]}", **overrides),
        on_message=lambda t, p, r: got.append(p) if r else None,
    )
    await sub.subscribe(topic)
    await sub.start()
    try:
        assert await sub.wait_connected(5), sub.last_error
        await asyncio.wait_for(sub.subscribe(f"barrier/{uuid.uuid4().hex}"), 5)
    finally:
        await sub.close()
    return got


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_publish_resolves_on_puback(mosquitto, protocol):
    pub = link(mosquitto.port, protocol=protocol)
    await pub.start()
    try:
        assert await pub.wait_connected(5)
        done = pub.publish("t/retained", b"hello", retain=True)
        assert not done.done()  # only the broker's PUBACK resolves it
        await asyncio.wait_for(done, 5)
        assert pub.queued == 0
    finally:
        await pub.close()
    assert await retained(mosquitto.port, "t/retained") == [b"hello"]


async def test_queued_while_down_and_retained_messages_coalesce(mosquitto):
    await mosquitto.kill()
    pub = link(mosquitto.port)
    await pub.start()
    try:
        older = [pub.publish("t/state", f"v{i}".encode(), retain=True) for i in range(3)]
        event = pub.publish("t/event", b"e")
        assert pub.queued == 2  # three states for one retained topic are one message
        assert not any(f.done() for f in older + [event])
        await mosquitto.start()
        await asyncio.wait_for(asyncio.gather(*older, event), 10)  # every waiter learns it is published
    finally:
        await pub.close()
    assert await retained(mosquitto.port, "t/state") == [b"v2"]


async def test_reconnects_back_off_exponentially_up_to_the_cap(mosquitto, caplog):
    await mosquitto.kill()
    pub = link(mosquitto.port, reconnect_min_delay=0.05, reconnect_max_delay=0.4)
    caplog.set_level(logging.WARNING, logger="burgerhub.mqtt")
    await pub.start()
    await asyncio.sleep(1.5)
    await pub.close()
    delays = [float(m) for m in re.findall(r"retrying in about ([0-9.]+) s", caplog.text)]
    assert delays[:4] == [0.05, 0.1, 0.2, 0.4]
    assert max(delays) == 0.4 and len(delays) < 14  # capped: no hammering


async def test_message_in_flight_when_the_connection_drops_is_sent_again(mosquitto):
    pub = link(mosquitto.port)
    await pub.start()
    try:
        assert await pub.wait_connected(5)
        first = pub.connects
        done = pub.publish("t/inflight", b"x", retain=True)
        pub._client.socket().shutdown(socket.SHUT_RDWR)  # before the loop could write or read anything
        await asyncio.wait_for(done, 10)
        assert pub.connects == first + 1
    finally:
        await pub.close()
    assert await retained(mosquitto.port, "t/inflight") == [b"x"]


async def test_close_fails_what_was_never_acknowledged(mosquitto):
    await mosquitto.kill()
    pub = link(mosquitto.port)
    await pub.start()
    pending = pub.publish("t/never", b"x", retain=True)
    await pub.close()
    with pytest.raises(LinkClosed):
        await pending
    with pytest.raises(LinkClosed):
        pub.publish("t/after", b"x")


def test_wildcards_cannot_be_published():
    pub = link(1)
    for topic in ("a/+/b", "a/#", ""):
        with pytest.raises(ValueError):
            pub.publish(topic, b"x")


@pytest.fixture
async def deployed_broker(tmp_path):
    """Mosquitto running the example deploy/mosquitto configuration and ACL, on a TLS and a loopback listener."""
    from matrix_boards_support import MOSQUITTO

    if MOSQUITTO is None:
        pytest.skip("the mosquitto broker binary is not installed (apt-get install mosquitto)")
    certs = make_certificates(tmp_path)
    passwd = tmp_path / "passwd"
    passwd.write_text("\n".join(password_line(u, f"{u}-pw") for u in ("burgerhub", "sign-utrecht")) + "\n")
    tls_port, plain_port = (Broker(tmp_path).port for _ in range(2))
    conf = (REPO / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    conf = (
        conf.replace("/etc/mosquitto/passwd", str(passwd))
        .replace("/etc/mosquitto/burgerhub.acl", str(REPO / "deploy" / "mosquitto" / "burgerhub.acl"))
        .replace("/etc/mosquitto/certs/server.crt", str(certs["cert"]))
        .replace("/etc/mosquitto/certs/server.key", str(certs["key"]))
        .replace("/etc/mosquitto/certs/ca.crt", str(certs["ca"]))
        .replace("/var/lib/mosquitto/", f"{tmp_path}/")
        .replace("listener 8883", f"listener {tls_port} 127.0.0.1")
        .replace("listener 1883 127.0.0.1", f"listener {plain_port} 127.0.0.1")
        .replace("log_dest syslog", "")
    )
    if os.geteuid() == 0:  # as root, Mosquitto would switch to the "mosquitto" user and lose our files
        conf += f"\nuser {pwd.getpwuid(0).pw_name}\n"
    broker = Broker(tmp_path, conf, port=plain_port)
    await broker.start()
    try:
        yield broker, tls_port, certs
    finally:
        await broker.kill()


async def test_example_deployment_tls_and_acl(deployed_broker):
    broker, tls_port, certs = deployed_broker
    tls = ssl.create_default_context(cafile=str(certs["ca"]))
    controller_seen: list[tuple[str, bytes]] = []
    controller = MqttLink(
        BrokerConfig(host="127.0.0.1", port=tls_port, tls=tls, username="sign-utrecht", password="sign-utrecht-pw"),
        on_message=lambda t, p, r: controller_seen.append((t, p)),
    )
    settings = {
        "host": "127.0.0.1", "port": tls_port, "ca_file": str(certs["ca"]), "username": "burgerhub",
        "password": "burgerhub-pw", "reconnect_min_delay": 0.1, "publish_timeout": 5,
    }
    hub = MatrixBoardsChannel(make_context("matrix_boards", settings, channel_cls=MatrixBoardsChannel))
    async with started(hub):
        assert await hub.link.wait_connected(5), hub.link.last_error
        assert hub.describe()["tls"] is True
        action = make_action()
        notice = Notice(action=action, kind=MessageKind.START)
        receipts = await hub.deliver(notice, make_deliveries(["utrecht", "zeist"], channel="matrix_boards"))
        assert [r.status for r in receipts] == [ReceiptStatus.SENT] * 2

        await controller.subscribe(TOPICS.state("+"), TOPICS.status)
        await controller.start()
        try:
            assert await controller.wait_connected(5), controller.last_error
            await asyncio.wait_for(controller.subscribe(f"barrier/{uuid.uuid4().hex}"), 5)
            topics = sorted(t for t, _ in controller_seen)
            assert topics == [TOPICS.status, TOPICS.state("utrecht")]  # not zeist: another region
            # a controller may not write, not even to its own region
            with pytest.raises(PublishRefused, match="authori"):
                await asyncio.wait_for(controller.publish(TOPICS.state("utrecht"), b"", retain=True), 5)
        finally:
            await controller.close()
        assert json.loads(dict(controller_seen)[TOPICS.state("utrecht")])["actions"][0]["id"] == action.id

    wrong = MatrixBoardsChannel(make_context("matrix_boards", {**settings, "password": "nope", "publish_timeout": 0.5},
                                             channel_cls=MatrixBoardsChannel))
    async with started(wrong):
        assert not await wrong.link.wait_connected(1)
        assert "refused" in wrong.link.last_error
