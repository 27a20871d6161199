"""The ledger: unique rows, one transaction per lifecycle change, leases and crash recovery."""

from __future__ import annotations

import pytest

from hub.errors import Conflict
from hub.store import AuditEntry, NewDelivery, Outcome
from hub.store.sqlite import SQLiteStore

AUDIT = AuditEntry("t", "dispatcher", "action.start", "a1")


def action(id="act-000001", **kw):
    return {"id": id, "status": "active", "urgency": "time_critical", "version": 1, **kw}


@pytest.fixture
async def store(tmp_path):
    s = SQLiteStore(tmp_path / "db.sqlite3")
    await s.open()
    yield s
    await s.close()


async def test_one_row_per_action_recipient_channel_and_kind(store):
    rows = [NewDelivery("sms", "+31612345678", "p1", "nl"), NewDelivery("sms", "+31612345678", "p2", "nl"),
            NewDelivery("email", "a@example.org", "p1", "nl")]
    assert await store.create_action(action(), rows, AUDIT) == 2
    with pytest.raises(Conflict):
        await store.create_action(action(), rows, AUDIT)


async def test_a_failed_transaction_leaves_nothing_behind(store, monkeypatch):
    def boom(conn, entry):
        raise RuntimeError("disk full")

    monkeypatch.setattr(SQLiteStore, "_audit", staticmethod(boom))
    with pytest.raises(RuntimeError):
        await store.create_action(action(), [NewDelivery("sms", "+31611111111", "p1", "nl")], AUDIT)
    assert await store.get_action("act-000001") is None
    assert await store.ledger_rows("act-000001") == []


async def test_closing_message_goes_to_the_reached_only(store):
    rows = [NewDelivery("sms", f"+3161111111{i}", f"p{i}", "nl") for i in range(4)]
    await store.create_action(action(), rows, AUDIT)
    claimed = await store.claim("sms", 3, owner="w", lease_seconds=60)
    assert len(claimed) == 3
    await store.complete([
        Outcome(claimed[0].id, "sent"),
        Outcome(claimed[1].id, "failed", "permanent: invalid number"),
        # claimed[2] is still in flight when the action ends: fail open, it gets the closing message
    ])
    ended = await store.end_action(action(status="ended", version=2), AuditEntry("t", "dispatcher", "action.end", "a1"))
    assert ended == 2
    ledger = await store.ledger_rows("act-000001")
    end_rows = {r["address"] for r in ledger if r["kind"] == "end"}
    assert end_rows == {claimed[0].address, claimed[2].address}
    unsent = [r for r in ledger if r["kind"] == "start" and r["status"] == "cancelled"]
    assert len(unsent) == 1 and unsent[0]["reason"] == "action_ended"
    # the in-flight start then fails: its closing message is skipped, not sent out of the blue
    await store.complete([Outcome(claimed[2].id, "failed", "permanent: unreachable")])
    ledger = await store.ledger_rows("act-000001")
    skipped = [r for r in ledger if r["kind"] == "end" and r["status"] == "skipped"]
    assert [r["address"] for r in skipped] == [claimed[2].address]


async def test_urgent_rows_are_claimed_first(store):
    await store.create_action({**action("act-slow01"), "urgency": "non_urgent"},
                              [NewDelivery("email", f"n{i}@x.org", None, "nl") for i in range(5)], AUDIT)
    await store.create_action(action("act-fast01"), [NewDelivery("email", f"u{i}@x.org", None, "nl") for i in range(5)], AUDIT)
    claimed = await store.claim("email", 5, owner="w", lease_seconds=60)
    assert {r.action_id for r in claimed} == {"act-fast01"}


async def test_rows_in_flight_are_requeued_after_a_crash(store):
    await store.create_action(action(), [NewDelivery("sms", "+31612345678", "p1", "nl")], AUDIT)
    assert len(await store.claim("sms", 10, owner="dead", lease_seconds=60)) == 1
    assert await store.claim("sms", 10, owner="other", lease_seconds=60) == []
    assert await store.requeue_orphans(None) == 1
    again = await store.claim("sms", 10, owner="other", lease_seconds=60)
    assert len(again) == 1 and again[0].attempts == 2


async def test_retry_waits_until_due(store):
    import time

    await store.create_action(action(), [NewDelivery("sms", "+31612345678", "p1", "nl")], AUDIT)
    row = (await store.claim("sms", 1, owner="w", lease_seconds=60))[0]
    await store.complete([Outcome(row.id, "queued", "429", retry_at=time.time() + 30)])
    assert await store.claim("sms", 1, owner="w", lease_seconds=60) == []
    assert await store.next_due("sms") > time.time() + 20


async def test_provider_status_callbacks_update_by_provider_id(store):
    await store.create_action(action(), [NewDelivery("sms", "+31612345678", "p1", "nl")], AUDIT)
    row = (await store.claim("sms", 1, owner="w", lease_seconds=60))[0]
    await store.complete([Outcome(row.id, "sent", provider_id="SM123")])
    assert await store.apply_provider_status("sms", "SM123", "delivered", None, retry_at=None) == 1
    assert (await store.ledger_rows("act-000001"))[0]["status"] == "delivered"
    assert await store.latest_action_for("sms", "+31612345678") == "act-000001"


async def test_provider_status_only_moves_forward(store):
    await store.create_action(action(), [NewDelivery("sms", "+31612345678", "p1", "nl")], AUDIT)
    row = (await store.claim("sms", 1, owner="w", lease_seconds=60))[0]
    await store.complete([Outcome(row.id, "sent", provider_id="SM9")])
    assert await store.apply_provider_status("sms", "SM9", "delivered", None, retry_at=None) == 1
    # a late, out-of-order "sent" report and a "failed" after delivery change nothing
    assert await store.apply_provider_status("sms", "SM9", "sent", None, retry_at=None) == 0
    assert await store.apply_provider_status("sms", "SM9", "failed", "late", retry_at=None) == 0
    assert (await store.ledger_rows("act-000001"))[0]["status"] == "delivered"
