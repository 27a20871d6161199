"""The delivery engine: retries with backoff and Retry-After, permanent failures, priority, crash recovery."""

from __future__ import annotations

import asyncio
import time

import pytest

from hub.errors import PermanentDeliveryError, TransientDeliveryError
from hub.ratelimit import RateLimiter
from hub.testing import BACKENDS, RecordingPlugin

from conftest import DISPATCHER, UTRECHT, person, start_payload

LAT, LON = UTRECHT


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    """Every test here runs on the embedded store and on a private PostgreSQL."""
    return request.param


async def test_transient_failures_are_retried_and_permanent_ones_are_final(make_hub, recording_channel, hub_cfg):
    people = [person(f"p{i}", LAT, LON) for i in range(3)]
    numbers = [p["phones"][0]["number"] for p in people]
    recording_channel.fail = {
        numbers[0]: TransientDeliveryError("rate limited", code="429", retry_after=0.3),
        numbers[1]: PermanentDeliveryError("invalid number", code="21211"),
    }
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg) as hub:
        for p in people:
            await hub.registry.register(p)
        t0 = time.monotonic()
        action = await hub.actions.start(start_payload(), DISPATCHER)
        assert await hub.engine.drain(10)
        assert time.monotonic() - t0 >= 0.3  # Retry-After honoured
        rows = {r["address"]: r for r in await hub.store.ledger_rows(action["id"])}
        assert rows[numbers[0]]["status"] == "sent" and rows[numbers[0]]["attempts"] == 2
        assert rows[numbers[1]]["status"] == "failed" and "invalid number" in rows[numbers[1]]["reason"]
        assert rows[numbers[2]]["status"] == "sent" and rows[numbers[2]]["attempts"] == 1
        counts = (await hub.actions.get(action["id"]))["counts"]["recording"]["start"]
        assert counts["targeted"] == 3 and counts["sent"] == 2 and counts["failed"] == 1
        # the one whose start failed gets no closing message
        await hub.actions.end(action["id"], {"result": "arrested"}, DISPATCHER)
        assert await hub.engine.drain(10)
        ends = {a for k, a, _ in recording_channel.delivered if k == "end"}
        assert ends == {numbers[0], numbers[2]}


async def test_retries_give_up_after_max_attempts(make_hub, recording_channel, hub_cfg):
    class AlwaysBusy(TransientDeliveryError):
        pass

    p = person("p", LAT, LON)
    number = p["phones"][0]["number"]

    class Sticky(dict):
        def pop(self, key, default=None):  # never heals
            return self.get(key, default)

    recording_channel.fail = Sticky({number: AlwaysBusy("busy", code="503")})
    cfg = {**hub_cfg, "engine": {"max_attempts": 3, "backoff_base": 0.01}}
    async with make_hub(plugins=[RecordingPlugin()], config=cfg) as hub:
        await hub.registry.register(p)
        action = await hub.actions.start(start_payload(), DISPATCHER)
        assert await hub.engine.drain(10)
        row = (await hub.store.ledger_rows(action["id"]))[0]
        assert row["status"] == "failed" and row["attempts"] == 3 and row["reason"].startswith("retries_exhausted")


async def test_a_restart_in_the_middle_of_a_fan_out_loses_nothing(make_hub, recording_channel, hub_cfg, tmp_path):
    people = [person(f"p{i:03d}", LAT, LON) for i in range(300)]
    data_dir = tmp_path / "shared"
    recording_channel.delay = 0.05
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg, data_dir=data_dir) as hub:
        for p in people:
            await hub.registry.register(p)
        action = await hub.actions.start(start_payload(), DISPATCHER)
        while len(recording_channel.delivered) < 50:
            await asyncio.sleep(0.01)
        # simulate a crash: the dispatchers die without writing their in-flight outcomes
        for task in hub.engine._tasks:
            task.cancel()
        for tasks in hub.engine._workers.values():
            for t in list(tasks):
                t.cancel()
        hub.engine._pending.clear()
        hub.engine._stopping = True
    first_run = len(recording_channel.delivered)
    assert first_run < 300
    recording_channel.delay = 0.0
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg, data_dir=data_dir) as hub:
        assert await hub.engine.drain(20)
        rows = await hub.store.ledger_rows(action["id"])
        assert len(rows) == 300 and {r["status"] for r in rows} == {"sent"}
    reached = {a for _, a, _ in recording_channel.delivered}
    assert reached == {p["phones"][0]["number"] for p in people}  # at least once each, nobody missing


async def test_urgent_work_is_served_before_non_urgent_when_saturated(make_hub, recording_channel, hub_cfg):
    cfg = {**hub_cfg, "channels": {"recording": {"token": "x", "concurrency": 1, "batch_size": 10}}}
    recording_channel.delay = 0.02
    async with make_hub(plugins=[RecordingPlugin()], config=cfg, engine=False) as hub:
        for i in range(40):
            await hub.registry.register(person(f"p{i}", LAT, LON))
        slow = await hub.actions.start(start_payload(type="prevention", urgency="non_urgent"), DISPATCHER)
        fast = await hub.actions.start(start_payload(type="robbery"), DISPATCHER)
        await hub.engine.start()
        hub._engine_running = True
        assert await hub.engine.drain(20)
        order = [r["action_id"] for r in sorted(
            [dict(r, action_id=a) for a in (slow["id"], fast["id"]) for r in await hub.store.ledger_rows(a)],
            key=lambda r: r["id"])]
    kinds = [k for k, _, _ in recording_channel.delivered]
    texts = [t for _, _, t in recording_channel.delivered]
    assert len(texts) == 80
    assert all("Overval" in t for t in texts[:40]), "urgent robbery messages must go first"
    assert order  # both actions were ledgered


async def test_rate_limiter_paces_deliveries():
    limiter = RateLimiter(50)
    t0 = time.monotonic()
    for _ in range(100):
        await limiter.acquire()
    assert time.monotonic() - t0 >= 0.9  # 50 burst, then 50 more at 50/s
