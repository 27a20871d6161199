"""The ledger's claim state on PostgreSQL (hub.store.pg_ledger): queued and leased rows have a pending
row and no others do, whatever path a row takes; claims and outcomes write no index entry of the
ledger; batches find their rows by key; a ledger from schema version 1 carries over."""

from __future__ import annotations

import time

import pytest

from hub.store import AuditEntry, DeliveryColumns, NewDelivery, Outcome
from hub.store import migrations
from hub.store.pg_ledger import _CLAIM, _COMPLETE
from hub.store.postgres import PLANNER_SETTINGS, PostgresStore

AUDIT = AuditEntry("t", "dispatcher", "action.start", "a1")


def action(id="act-1", **kw):
    return {"id": id, "status": "active", "urgency": "time_critical", "version": 1, **kw}


@pytest.fixture
def hub_backend():
    return "postgresql"


@pytest.fixture
async def store(database_url):
    s = PostgresStore(database_url)
    await s.open()
    yield s
    await s.close()


async def participants(store, n):
    ids = [f"p{i}" for i in range(n)]
    await store.put_participants([(pid, {"id": pid}) for pid in ids])
    return ids


async def pending_matches_ledger(store) -> dict[str, int]:
    """Assert the invariant; return the ledger's status counts."""
    pool = store._p()
    ledger = {r[0]: r[1] for r in await pool.fetch(
        "SELECT id, status FROM deliveries WHERE status IN ('queued', 'sending')")}
    pending = {r[0]: r[1] for r in await pool.fetch("SELECT id, owner FROM deliveries_pending")}
    assert set(ledger) == set(pending)
    assert all((pending[i] is not None) == (s == "sending") for i, s in ledger.items())
    return dict(await pool.fetch("SELECT status, count(*) FROM deliveries GROUP BY status"))


async def test_every_path_keeps_the_pending_rows_exactly_the_queued_and_leased_ones(store):
    ids = await participants(store, 6)
    rows = [NewDelivery("sms", f"+3161000000{i}", pid, "nl") for i, pid in enumerate(ids)]
    assert await store.create_action(action(), rows, AUDIT) == 6
    assert await pending_matches_ledger(store) == {"queued": 6}

    claimed = await store.claim("sms", 4, owner="w1", lease_seconds=60)
    assert len(claimed) == 4
    await pending_matches_ledger(store)
    sent, retried, failed, lost = claimed
    await store.complete([
        Outcome(sent.id, "sent", provider_id="ref-1"),
        Outcome(retried.id, "queued", "429", retry_at=time.time() + 60),
        Outcome(failed.id, "failed", "unknown number"),
    ], owner="w1")
    # an outcome of a row leased to another process changes nothing
    await store.complete([Outcome(lost.id, "sent")], owner="w2")
    counts = await pending_matches_ledger(store)
    assert counts == {"queued": 3, "sending": 1, "sent": 1, "failed": 1}

    # the process holding ``lost`` died: its row goes back; a late outcome of it then changes nothing
    assert await store._requeue("owner = $2", "w1") == 1
    await store.complete([Outcome(lost.id, "sent")], owner="w1")
    assert (await pending_matches_ledger(store))["queued"] == 4

    # a provider asks for a retry of a sent message; then reports delivery of it
    assert await store.apply_provider_status("sms", "ref-1", "failed", "busy", retry_at=time.time() + 60) == 1
    assert (await pending_matches_ledger(store))["queued"] == 5
    assert await store.apply_provider_status("sms", "ref-1", "delivered", None, retry_at=None) == 1
    assert (await pending_matches_ledger(store))["queued"] == 4

    # ending cancels what is queued and not leased, and queues a closing for those the start reached
    again = await store.claim("sms", 1, owner="w1", lease_seconds=60)
    assert len(again) == 1
    ended = await store.end_action(action(status="ended", version=2), AUDIT)
    assert ended == 2  # the delivered start and the one in flight
    counts = await pending_matches_ledger(store)
    assert counts == {"sending": 1, "queued": 2, "cancelled": 3, "delivered": 1, "failed": 1}


async def test_a_closing_of_someone_whose_start_failed_is_skipped_and_leaves_the_queue(store):
    ids = await participants(store, 2)
    await store.create_action(action(), [NewDelivery("sms", f"+316100000{i}", pid, "nl")
                                         for i, pid in enumerate(ids)], AUDIT)
    first = await store.claim("sms", 2, owner="w", lease_seconds=60)
    await store.complete([Outcome(r.id, "sent") for r in first])
    assert await store.end_action(action(status="ended", version=2), AUDIT) == 2
    # a retried start that fails for good after the closing was queued
    await store._p().execute("UPDATE deliveries SET status='sending', owner='w' WHERE id=$1", first[0].id)
    await store._p().execute("INSERT INTO deliveries_pending (id, channel, urgency_rank, next_at, owner)"
                             " VALUES ($1, 'sms', 0, 0, 'w')", first[0].id)
    await store.complete([Outcome(first[0].id, "failed", "unknown number")])
    counts = await pending_matches_ledger(store)
    assert counts == {"sent": 1, "failed": 1, "queued": 1, "skipped": 1}


async def test_erasure_removes_the_provider_ids_lookup_of_the_persons_rows(store):
    await participants(store, 2)
    await store.create_action(action(), [NewDelivery("sms", "+31610000000", "p0", "nl"),
                                         NewDelivery("sms", "+31610000001", "p1", "nl")], AUDIT)
    rows = await store.claim("sms", 2, owner="w", lease_seconds=60)
    await store.complete([Outcome(r.id, "sent", provider_id=f"ref:{r.address}") for r in rows])
    assert await store.erase_participant("p0", AUDIT) is not None
    left = [r[0] for r in await store._p().fetch("SELECT provider_id FROM delivery_receipts")]
    assert left == ["ref:+31610000001"]
    assert await store.apply_provider_status("sms", "ref:+31610000000", "delivered", None, retry_at=None) == 0


async def test_claims_and_outcomes_write_no_index_entry_of_the_ledger(store):
    ids = await participants(store, 3000)
    columns = DeliveryColumns("sms", [f"+3161{i:07d}" for i in range(3000)], ids, ["nl"] * 3000)
    await store.create_action(action(), [columns], AUDIT)
    pool = store._p()
    sizes = "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index WHERE indrelid='deliveries'::regclass"
    before = dict(await pool.fetch(sizes))
    while rows := await store.claim("sms", 1000, owner="w", lease_seconds=60):
        await store.complete([Outcome(r.id, "sent", provider_id=f"ref-{r.id}") for r in rows], owner="w")
    assert (await pending_matches_ledger(store)) == {"sent": 3000}
    # each of two changes per row, with an index entry each, would add some 100 kB per index
    assert dict(await pool.fetch(sizes)) == before
    # and a provider's report still finds its row
    some = await pool.fetchval("SELECT max(id) FROM deliveries")
    assert await store.apply_provider_status("sms", f"ref-{some}", "delivered", None, retry_at=None) == 1


async def test_an_outcome_batch_finds_its_rows_by_key_in_a_long_queue(store):
    ids = await participants(store, 20_000)
    columns = DeliveryColumns("sms", [f"+3161{i:07d}" for i in range(20_000)], ids, ["nl"] * 20_000)
    await store.create_action(action(), [columns], AUDIT)
    rows = await store.claim("sms", 1000, owner="w", lease_seconds=60)
    async with store._p().acquire() as conn:
        await conn.execute("ANALYZE deliveries_pending")
        assert await conn.fetchval("SHOW random_page_cost") == PLANNER_SETTINGS["random_page_cost"]
        plan = "\n".join(r[0] for r in await conn.fetch(
            "EXPLAIN " + _COMPLETE.format(mine=" AND p.owner=$6"),
            [r.id for r in rows], ["sent"] * len(rows), [None] * len(rows), [None] * len(rows), time.time(), "w",
        ))
    assert "Seq Scan" not in plan, plan


async def test_a_claim_locks_its_rows_once_whatever_the_queue_statistics_say(store):
    # between fan-outs the queue is empty, and so are the statistics autovacuum takes of it; a claim
    # planned on them must not run its locking subquery again per row (three hubs spun for minutes)
    await store._p().execute("ANALYZE deliveries_pending")
    ids = await participants(store, 20_000)
    columns = DeliveryColumns("sms", [f"+3161{i:07d}" for i in range(20_000)], ids, ["nl"] * 20_000)
    await store.create_action(action(), [columns], AUDIT)
    now = time.time()
    plan = "\n".join(r[0] for r in await store._p().fetch("EXPLAIN " + _CLAIM, "sms", "w", now + 60, now, 2000))
    assert "InitPlan" in plan and "Nested Loop" not in plan and "Join" not in plan, plan


async def test_a_ledger_of_schema_version_1_carries_over(database_url):
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        first = migrations.migrations("postgres")[0]
        assert first.version == 1
        await conn.execute(first.sql)
        await conn.execute("INSERT INTO store_meta VALUES ('schema_version', '1')")
        now = time.time()
        await conn.execute("INSERT INTO actions VALUES ('act-1', 'active', 'time_critical', 1, '{}', $1, $1)", now)
        await conn.executemany(
            "INSERT INTO deliveries (action_id, channel, kind, address, participant_id, urgency_rank, status,"
            " owner, lease_until, provider_id, next_at, created_at, updated_at)"
            " VALUES ('act-1', 'sms', 'start', $1, NULL, 0, $2, $3, $4, $5, 0, $6, $6)",
            [("+31610000001", "queued", None, None, None, now),
             ("+31610000002", "sending", "gone-process", now - 1, None, now),
             ("+31610000003", "sent", None, None, "ref-3", now),
             ("+31610000004", "sending", None, None, None, now)],
        )
    finally:
        await conn.close()

    store = PostgresStore(database_url)
    await store.open()
    try:
        await store.join("w")
        assert await store._one("SELECT value FROM store_meta WHERE key='schema_version'") == (
            str(migrations.latest("postgres")),)
        await pending_matches_ledger(store)
        # the queued row and the one in flight without an owner are due; the expired lease comes back
        assert {r.address for r in await store.claim("sms", 10, owner="w", lease_seconds=60)} == {
            "+31610000001", "+31610000004"}
        assert await store.requeue_orphans(None) == 1
        assert [r.address for r in await store.claim("sms", 10, owner="w", lease_seconds=60)] == ["+31610000002"]
        assert await store.apply_provider_status("sms", "ref-3", "delivered", None, retry_at=None) == 1
    finally:
        await store.close()


async def test_queued_and_requeued_rows_wake_every_process_for_their_channels(store):
    import asyncio

    heard: list[str] = []
    await store.listen("ledger", heard.append)
    p = await participants(store, 2)
    rows = [NewDelivery("sms", "+31611111111", p[0], "nl"), NewDelivery("email", "a@example.org", p[1], "nl")]
    await store.create_action(action(), rows, AUDIT)
    for _ in range(100):
        if len(heard) >= 2:
            break
        await asyncio.sleep(0.02)
    assert sorted(heard) == ["email", "sms"]
    heard.clear()
    await store.claim("sms", 10, owner="gone", lease_seconds=60)
    assert await store.requeue_orphans("gone") == 1
    for _ in range(100):
        if heard:
            break
        await asyncio.sleep(0.02)
    assert heard == ["sms"]


async def test_a_clock_off_the_database_servers_is_reported_and_exported(store, monkeypatch, caplog):
    """Hubs judge each other's heartbeats by their own clocks: a clock seconds off is said, once."""
    import hub.store.postgres as pg
    from hub.metrics import HubMetrics

    metrics = HubMetrics()
    metrics.watch_clock(lambda: store.clock_offset)
    await store.join("hub-clock")  # the first heartbeat
    assert abs(store.clock_offset) < 1.0
    real = time.time
    monkeypatch.setattr(pg.time, "time", lambda: real() + 7.0)
    with caplog.at_level("INFO", logger="burgerhub.store.postgres"):
        await store._beat()
        await store._beat()
    assert 6.0 < store.clock_offset < 8.0
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and "+7.0 s off" in warned[0].getMessage()
    assert b"burgerhub_clock_offset_seconds 7." in metrics.render()
    monkeypatch.setattr(pg.time, "time", real)
    with caplog.at_level("INFO", logger="burgerhub.store.postgres"):
        await store._beat()
    assert abs(store.clock_offset) < 1.0
    assert "in step with the database server's again" in caplog.records[-1].getMessage()
