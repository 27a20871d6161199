"""Rows handed to a provider that reports back later, on both backends: after a crash they are in
doubt and wait; the provider's report settles them; those it never reports on go out again."""

from __future__ import annotations

import time

import pytest

from hub.store import AuditEntry, NewDelivery, Outcome
from hub.testing import BACKENDS

AUDIT = AuditEntry("t", "dispatcher", "action.start", "act-000001")


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


@pytest.fixture
def store_participants():
    return [f"p{i}" for i in range(4)]


async def test_a_crash_leaves_handed_over_rows_in_doubt_until_a_report_settles_them(store):
    action = {"id": "act-000001", "status": "active", "urgency": "time_critical", "version": 1}
    rows = [NewDelivery("sms", f"+3161234567{i}", f"p{i}", "nl") for i in range(4)]
    await store.create_action(action, rows, AUDIT)
    claimed = await store.claim("sms", 10, owner="dead", lease_seconds=60)
    assert len(claimed) == 4
    # the first two went out in one request (ids written before it); the other two never left
    handed = {r.id: f"bh{claimed[0].id}:{r.address}" for r in claimed[:2]}
    await store.hand_over(handed)

    t0 = time.time()
    assert await store.requeue_orphans(None, in_doubt_seconds=30) == 4
    # the two never handed over go out again at once; the two in doubt wait
    again = await store.claim("sms", 10, owner="next", lease_seconds=60)
    assert {r.id for r in again} == {r.id for r in claimed[2:]}
    assert t0 + 29 <= await store.next_due("sms") <= time.time() + 30

    # the provider's report of one of them arrives: it is settled, not sent again
    first, second = claimed[:2]
    assert await store.apply_provider_status("sms", handed[first.id], "delivered", None, retry_at=None) == 1
    ledger = {r["id"]: r for r in await store.ledger_rows("act-000001")}
    assert ledger[first.id]["status"] == "delivered"
    assert ledger[second.id]["status"] == "queued" and ledger[second.id]["reason"] == "in_doubt"


async def test_a_clean_answer_clears_the_hand_over_mark(store):
    action = {"id": "act-000001", "status": "active", "urgency": "time_critical", "version": 1}
    await store.create_action(action, [NewDelivery("sms", "+31612345670", "p0", "nl")], AUDIT)
    [row] = await store.claim("sms", 1, owner="w", lease_seconds=60)
    await store.hand_over({row.id: "bh1:+31612345670"})
    await store.complete([Outcome(row.id, "sent", None, "bh1:+31612345670")])
    [ledger] = await store.ledger_rows("act-000001")
    assert ledger["status"] == "sent" and ledger["reason"] is None and ledger["provider_id"] == "bh1:+31612345670"
    # and a later crash sweep has nothing in doubt
    assert await store.requeue_orphans(None, in_doubt_seconds=30) == 0
