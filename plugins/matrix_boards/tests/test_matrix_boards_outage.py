"""Signs after a broker outage: the state is back within 10 s of the broker's return, however long it
was away. The reconnect back-off is capped (every wait, not only the nominal one) and starts over after
a connection that stayed up.

The outage of the default run is short; ``BURGERHUB_SIGN_OUTAGE_S=30`` runs the real-length case with
the channel's default settings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re

from test_matrix_boards_broker import STATE, TOPICS, connected, make_channel, send

from hub.models import MessageKind
from hub.testing import make_action, started
from plugins.matrix_boards import link as link_module
from plugins.matrix_boards.link import Backoff, BrokerConfig, MqttLink

OUTAGE_S = float(os.environ.get("BURGERHUB_SIGN_OUTAGE_S", "3"))
DEFAULTS = BrokerConfig(host="127.0.0.1")


def test_every_delay_is_within_the_cap_however_many_attempts_failed():
    backoff = Backoff(DEFAULTS.reconnect_min_delay, DEFAULTS.reconnect_max_delay, jitter=lambda: 1.0)
    delays = [backoff.next() for _ in range(1000)]  # far longer an outage than anyone waits out
    assert delays[:5] == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert max(delays) == DEFAULTS.reconnect_max_delay <= 5.0
    # the cap holds after jitter too, and a delay never goes below half the nominal one
    jittered = Backoff(0.5, 5.0)
    assert all(0.25 <= jittered.next() <= 5.0 for _ in range(1000))


def test_reset_starts_over_from_the_minimum():
    backoff = Backoff(0.5, 5.0, jitter=lambda: 1.0)
    for _ in range(10):
        backoff.next()
    backoff.reset()
    assert [backoff.next(), backoff.next()] == [0.5, 1.0]


def test_the_settings_cannot_ask_for_a_longer_wait_than_the_promise_allows():
    from plugins.matrix_boards import MatrixBoardsChannel

    schema = MatrixBoardsChannel.settings_schema["properties"]
    assert schema["reconnect_max_delay"]["default"] == DEFAULTS.reconnect_max_delay == 5
    assert schema["reconnect_max_delay"]["maximum"] <= 8


async def outage(mosquitto, recorder, seconds: float, **settings) -> float:
    """Put an action on a sign, keep the broker away ``seconds``, and return how long after its
    return a fresh subscriber sees the state again."""
    action = make_action()
    async with started(make_channel(mosquitto.port, **settings)) as channel:
        await connected(channel)
        await send(channel, MessageKind.START, action)
        await mosquitto.kill()
        await asyncio.sleep(seconds)
        loop = asyncio.get_running_loop()
        await mosquitto.start()  # a fresh broker: no persistence, the retained state is gone
        back = loop.time()
        async with recorder(TOPICS.state("+")) as sub:
            await sub.wait_for(lambda: sub.last(STATE), timeout=15)
        took = loop.time() - back
        assert json.loads(sub.last(STATE))["actions"][0]["id"] == action.id
    return took


async def test_state_is_back_within_10_s_with_the_default_settings(mosquitto, recorder):
    took = await outage(mosquitto, recorder, OUTAGE_S, reconnect_min_delay=0.5, reconnect_max_delay=5)
    assert took < 10, f"{took:.1f} s after a {OUTAGE_S:.0f} s outage"


async def test_a_long_outage_costs_no_more_than_the_cap(mosquitto, recorder):
    """The default case scaled down: an outage many times the cap, the state back within about the cap."""
    took = await outage(mosquitto, recorder, 2.0, reconnect_min_delay=0.02, reconnect_max_delay=0.3)
    assert took < 0.3 + 1.5, f"{took:.2f} s"


async def test_the_back_off_starts_over_after_a_connection_that_stayed_up(mosquitto, caplog, monkeypatch):
    monkeypatch.setattr(link_module, "STABLE_AFTER_S", 0.5)
    caplog.set_level(logging.WARNING, logger="burgerhub.mqtt")
    link = MqttLink(BrokerConfig(host="127.0.0.1", port=mosquitto.port, reconnect_min_delay=0.05,
                                 reconnect_max_delay=0.4, connect_timeout=2))
    await link.start()
    try:
        assert await link.wait_connected(5)
        await mosquitto.kill()
        await asyncio.sleep(1.2)  # long enough to reach the cap
        await mosquitto.start()
        assert await wait_reconnected(link, 1)
        first = delays(caplog.text)
        assert first[:4] == [0.05, 0.1, 0.2, 0.4] and first[-1] == 0.4
        caplog.clear()
        await asyncio.sleep(0.8)  # up longer than STABLE_AFTER_S
        await mosquitto.kill()
        await asyncio.sleep(0.3)
        assert delays(caplog.text)[:2] == [0.05, 0.1]
    finally:
        await link.close()


def delays(log: str) -> list[float]:
    return [float(m) for m in re.findall(r"(?:retrying|reconnecting) in about ([0-9.]+) s", log)]


async def wait_reconnected(link: MqttLink, connects_before: int, timeout: float = 5) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if link.connected and link.connects > connects_before:
            return True
        await asyncio.sleep(0.02)
    return False
