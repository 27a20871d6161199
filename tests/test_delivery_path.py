"""The delivery path under load: ledger statements in bulk, claims, outcome writes and wake-ups."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from hub.config import EngineSettings
from hub.engine import ChannelRuntime, DeliveryEngine, claim_window
from hub.models import Receipt
from hub.ratelimit import RateLimiter
from hub.store import LedgerRow, NewDelivery, Outcome
from hub.store.sqlite import SQLiteStore
from hub.testing import make_action

from test_store import AUDIT, action, hub_backend, store_participants  # noqa: F401  (fixtures: both backends; store is in conftest)


# -- the ledger in bulk ------------------------------------------------------------------------


async def test_rows_survive_the_bulk_insert_and_claim_unchanged(store):
    rows = [
        NewDelivery("sms", "+31612345678", "p-ë\"quote", "en"),
        NewDelivery("email", "zoë@example.org", None, "nl"),
        NewDelivery("sms", "+31612345679", "p2", "nl"),
    ]
    assert await store.create_action(action(), rows, AUDIT) == 3
    sms = await store.claim("sms", 10, owner="w", lease_seconds=60)
    assert [(r.address, r.participant_id, r.language, r.attempts) for r in sms] == [
        ("+31612345678", 'p-ë"quote', "en", 1),
        ("+31612345679", "p2", "nl", 1),
    ]
    assert all(isinstance(r, LedgerRow) and (r.kind, r.seq, r.channel) == ("start", 0, "sms") for r in sms)
    [email] = await store.claim("email", 10, owner="w", lease_seconds=60)
    assert (email.address, email.participant_id) == ("zoë@example.org", None)
    assert await store.claim("sms", 10, owner="w", lease_seconds=60) == []


async def test_two_claims_in_a_row_never_return_each_others_rows(store):
    rows = [NewDelivery("sms", f"+3161111{i:04d}", f"p{i}", "nl") for i in range(50)]
    await store.create_action(action(), rows, AUDIT)
    first = await store.claim("sms", 20, owner="w", lease_seconds=60)
    second = await store.claim("sms", 20, owner="w", lease_seconds=60)
    third = await store.claim("sms", 20, owner="w", lease_seconds=60)
    ids = [r.id for r in first + second + third]
    assert [len(first), len(second), len(third)] == [20, 20, 10]
    assert len(set(ids)) == 50 and ids == sorted(ids)


async def test_outcomes_in_bulk_final_retry_and_skip(store):
    rows = [NewDelivery("sms", f"+3161111111{i}", f"p{i}", "nl") for i in range(3)]
    await store.create_action(action(), rows, AUDIT)
    a, b, c = await store.claim("sms", 3, owner="w", lease_seconds=60)
    retry_at = time.time() + 30
    await store.complete([
        Outcome(a.id, "sent", None, "SM-a"),
        Outcome(b.id, "queued", "429: slow down", retry_at=retry_at),
        Outcome(c.id, "failed", "21211: invalid number"),
    ])
    by_id = {r["id"]: r for r in await store.ledger_rows("act-000001")}
    assert (by_id[a.id]["status"], by_id[a.id]["provider_id"]) == ("sent", "SM-a")
    assert (by_id[b.id]["status"], by_id[b.id]["reason"]) == ("queued", "429: slow down")
    assert (by_id[c.id]["status"], by_id[c.id]["reason"]) == ("failed", "21211: invalid number")
    assert await store.next_due("sms") == pytest.approx(retry_at)
    # a second report for the same rows changes nothing: they are no longer in flight
    await store.complete([Outcome(a.id, "failed", "late")])
    assert {r["id"]: r["status"] for r in await store.ledger_rows("act-000001")}[a.id] == "sent"


async def test_a_ledger_from_before_gets_the_new_indexes(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE deliveries (id INTEGER PRIMARY KEY, action_id TEXT NOT NULL, channel TEXT NOT NULL,"
        " kind TEXT NOT NULL, seq INTEGER NOT NULL DEFAULT 0, address TEXT NOT NULL, participant_id TEXT,"
        " language TEXT NOT NULL DEFAULT 'nl', urgency_rank INTEGER NOT NULL, status TEXT NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL DEFAULT 0, owner TEXT, lease_until REAL,"
        " provider_id TEXT, reason TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL,"
        " UNIQUE (action_id, channel, kind, seq, address));"
        "CREATE INDEX deliveries_due ON deliveries(channel, status, urgency_rank, next_at, id);"
        "CREATE INDEX deliveries_provider ON deliveries(channel, provider_id);"
        "CREATE INDEX deliveries_action ON deliveries(action_id, kind, status);"
        "CREATE INDEX deliveries_address ON deliveries(channel, address);"
    )
    conn.close()
    store = SQLiteStore(path)
    await store.open()
    await store.close()
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='deliveries'")}
    conn.close()
    assert not names & {"deliveries_due", "deliveries_provider", "deliveries_action", "deliveries_address"}
    assert {"deliveries_queue", "deliveries_inflight", "deliveries_provider_id", "deliveries_start_address"} <= names


async def test_an_address_leads_to_the_action_and_participant_that_last_started_there(store):
    sms = [NewDelivery("sms", "+31611111111", "p1", "nl")]
    await store.create_action(action(), sms, AUDIT)
    await store.create_action({**action(), "id": "act-2"}, [NewDelivery("sms", "+31611111111", "p2", "nl")], AUDIT)
    for row in await store.claim("sms", 10, owner="w", lease_seconds=60):
        await store.complete([Outcome(row.id, "sent")])
    await store.end_action({**action(), "status": "ended", "version": 2}, AUDIT)  # a closing row for p1, newest
    assert await store.latest_action_for("sms", "+31611111111") == "act-2"
    assert await store.participant_for("sms", "+31611111111") == "p2"
    assert await store.participant_for("sms", "+31699999999") is None


async def test_busy_channels_sees_queued_and_leased_rows(store):
    await store.create_action(action(), [NewDelivery("sms", "+31611111111", "p1", "nl"),
                                         NewDelivery("email", "a@example.org", "p1", "nl")], AUDIT)
    await store.claim("email", 1, owner="w", lease_seconds=60)
    assert await store.busy_channels() == {"sms", "email"}


# -- the engine --------------------------------------------------------------------------------


class FakeStore:
    """Just the calls the engine makes, scripted per test."""

    def __init__(self, batches=()):
        self.batches = list(batches)
        self.claims = 0
        self.completed: list[Outcome] = []
        self.on_claim = None
        self.complete_gate: asyncio.Event | None = None

    async def requeue_orphans(self, owner=None, *, in_doubt_seconds=0.0):
        return 0

    async def claim(self, channel, limit, *, owner, lease_seconds):
        self.claims += 1
        if self.on_claim:
            self.on_claim(self.claims)
        return self.batches.pop(0) if self.batches else []

    async def next_due(self, channel):
        return None

    async def complete(self, outcomes):
        if self.complete_gate is not None:
            await self.complete_gate.wait()
        self.completed.extend(outcomes)

    async def busy_channels(self):
        return set()


class Quick:
    """A channel that answers at once and remembers the order of its calls."""

    def __init__(self):
        self.calls: list[int] = []

    async def deliver(self, notice, deliveries):
        self.calls.extend(d.id for d in deliveries)
        return [Receipt.sent(d, provider_id=f"id-{d.id}") for d in deliveries]


def row(i: int) -> LedgerRow:
    return LedgerRow(i, "act-01HZX0TEST7Q2K", "c", "start", 0, f"+3161111{i:04d}", f"p{i}", "nl", 1)


def engine_for(store, channel=None, *, concurrency=1, batch_size=1, poll_interval=30.0) -> DeliveryEngine:
    rt = ChannelRuntime(name="c", channel=channel or Quick(), sandbox=False, concurrency=concurrency,
                        batch_size=batch_size)
    view = make_action()

    async def load(action_id):
        return view

    return DeliveryEngine(store, {"c": rt}, load, EngineSettings(poll_interval=poll_interval))


async def test_a_wake_up_during_an_empty_claim_is_not_lost():
    store = FakeStore()
    second = asyncio.Event()
    engine = engine_for(store)

    def on_claim(n):
        if n == 1:
            engine.wake(["c"])  # work arrived while the claim was looking
        elif n == 2:
            second.set()

    store.on_claim = on_claim
    await engine.start()
    try:
        await asyncio.wait_for(second.wait(), 2)  # not after the 30 s poll interval
    finally:
        await engine.stop()


async def test_a_slot_is_free_while_the_outcome_is_still_being_written():
    store = FakeStore([[row(1)], [row(2)], [row(3)]])
    store.complete_gate = asyncio.Event()
    channel = Quick()
    engine = engine_for(store, channel, concurrency=1)
    await engine.start()
    try:
        deadline = time.monotonic() + 2
        while len(channel.calls) < 3 and time.monotonic() < deadline:
            engine.wake(["c"])
            await asyncio.sleep(0.01)
        assert channel.calls == [1, 2, 3] and store.completed == []  # no write has finished yet
        store.complete_gate.set()
        assert await engine.drain(2)
        assert sorted(o.id for o in store.completed) == [1, 2, 3]
        assert {o.status for o in store.completed} == {"sent"}
    finally:
        store.complete_gate.set()
        await engine.stop()


def test_a_claim_fills_every_slot_but_never_outlives_its_lease():
    settings = EngineSettings(claim_size=2000, lease_seconds=120)

    def rt(batch_size, concurrency, rate=None):
        return ChannelRuntime(name="c", channel=None, sandbox=False, concurrency=concurrency,
                              batch_size=batch_size, limiter=RateLimiter(rate) if rate else None)

    assert claim_window(rt(1000, 4), settings) == 2000  # bulk: capped by claim_size
    assert claim_window(rt(1, 64), settings) == 512  # per recipient: at least a few hundred
    assert claim_window(rt(1, 64, rate=1.0), settings) == 30  # one a second: what 30 s can send
    assert claim_window(rt(1000, 4, rate=1.0), settings) == 1000  # never less than one batch


class Slow:
    """A channel whose calls take a while; counts how many run at once."""

    def __init__(self, delay: float = 0.01):
        self.delay = delay
        self.active = self.peak = 0
        self.calls: list[int] = []

    async def deliver(self, notice, deliveries):
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.active -= 1
        self.calls.extend(d.id for d in deliveries)
        return [Receipt.sent(d, provider_id=f"id-{d.id}") for d in deliveries]


async def test_a_fixed_pool_of_workers_delivers_at_most_concurrency_at_once():
    store = FakeStore([[row(i) for i in range(k, k + 20)] for k in range(0, 100, 20)])
    channel = Slow()
    engine = engine_for(store, channel, concurrency=4)
    await engine.start()
    try:
        tasks_before = len(asyncio.all_tasks())
        deadline = time.monotonic() + 5
        while len(channel.calls) < 100 and time.monotonic() < deadline:
            engine.wake(["c"])
            # no task per message: at most the outcome writer and the dispatcher's timed wait come and go
            assert len(asyncio.all_tasks()) <= tasks_before + 2
            await asyncio.sleep(0.005)
        assert sorted(channel.calls) == list(range(100)) and channel.peak == 4
        assert await engine.drain(2)
        assert sorted(o.id for o in store.completed) == list(range(100))
    finally:
        await engine.stop()


async def test_stop_lets_the_batches_in_flight_finish_and_leaves_the_rest_leased():
    store = FakeStore([[row(i) for i in range(10)]])
    channel = Slow(delay=0.2)
    engine = engine_for(store, channel, concurrency=2)
    await engine.start()
    while channel.active < 2:
        await asyncio.sleep(0.005)
    await engine.stop()
    # the two in flight finished and were written; the others were never started (requeued later)
    assert sorted(channel.calls) == [0, 1] and sorted(o.id for o in store.completed) == [0, 1]
    assert all(w.done() for ws in engine._workers.values() for w in ws)
