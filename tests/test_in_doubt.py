"""Rows handed to a provider that reports back later, on both backends: after a crash they are in
doubt and wait; the provider's report settles them; those it never reports on go out again."""

from __future__ import annotations

import asyncio
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


END = AuditEntry("t", "dispatcher", "action.end", "act-000001")


async def _ended_in_doubt(store, people: int, in_doubt_seconds: float):
    """An action whose starts were all handed to the provider by a process that then crashed (each
    in doubt), ended within the doubt: (the start rows, their provider ids)."""
    action = {"id": "act-000001", "status": "active", "urgency": "time_critical", "version": 1}
    await store.create_action(action, [NewDelivery("sms", f"+3161234567{i}", f"p{i}", "nl") for i in range(people)],
                              AUDIT)
    claimed = await store.claim("sms", 10, owner="dead", lease_seconds=60)
    handed = {r.id: f"bh{claimed[0].id}:{r.address}" for r in claimed}
    await store.hand_over(handed)
    assert await store.requeue_orphans(None, in_doubt_seconds=in_doubt_seconds) == people
    await store.end_action({**action, "status": "ended", "version": 2}, END)
    return claimed, handed


async def _closings(store) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in await store.ledger_rows("act-000001"):
        if r["kind"] == "end":
            out.setdefault(r["address"], []).append(r)
    return out


async def test_an_action_ended_while_starts_are_in_doubt_closes_for_those_the_provider_reports_on(store):
    claimed, handed = await _ended_in_doubt(store, 4, in_doubt_seconds=30)
    delivered, sent, failed, silent = claimed
    # the provider had every start: none is cancelled, none is sent again, and each closing waits
    # for the fate of its start
    starts = {r["id"]: r for r in await store.ledger_rows("act-000001") if r["kind"] == "start"}
    assert {s["status"] for s in starts.values()} == {"sent"}
    assert set(await _closings(store)) == {r.address for r in claimed}
    assert await store.claim("sms", 10, owner="next", lease_seconds=60) == []

    # reports of the starts arrive after the end
    assert await store.apply_provider_status("sms", handed[delivered.id], "delivered", None, retry_at=None) == 1
    assert await store.apply_provider_status("sms", handed[sent.id], "sent", None, retry_at=None) == 1
    assert await store.apply_provider_status("sms", handed[failed.id], "failed", "unknown number", retry_at=None) == 1
    # a report posted again changes nothing
    assert await store.apply_provider_status("sms", handed[delivered.id], "delivered", None, retry_at=None) == 0

    # the closing goes out now to those whose start arrived, once; not to whom it failed to reach
    now = await store.claim("sms", 10, owner="next", lease_seconds=60)
    assert sorted((r.kind, r.address) for r in now) == [("end", delivered.address), ("end", sent.address)]
    await store.complete([Outcome(r.id, "sent", None, f"end-{r.id}") for r in now])
    assert await store.apply_provider_status("sms", handed[sent.id], "delivered", None, retry_at=None) == 1
    closings = await _closings(store)
    assert [c["status"] for c in closings[delivered.address]] == ["sent"]
    assert [c["status"] for c in closings[sent.address]] == ["sent"]
    assert [(c["status"], c["reason"]) for c in closings[failed.address]] == [("skipped", "start_not_delivered")]
    # the one the provider never reports on: its closing waits for the end of the doubt
    assert [c["status"] for c in closings[silent.address]] == ["queued"]
    assert time.time() + 25 <= await store.next_due("sms") <= time.time() + 30
    assert await store.claim("sms", 10, owner="next", lease_seconds=60) == []


async def test_a_start_in_doubt_never_reported_on_counts_as_sent_once_the_doubt_is_over(store):
    claimed, handed = await _ended_in_doubt(store, 2, in_doubt_seconds=0.5)
    assert await store.claim("sms", 10, owner="next", lease_seconds=60) == []
    await asyncio.sleep(0.6)
    # the provider had the starts: the closing goes to both, and no start goes out after the end
    due = await store.claim("sms", 10, owner="next", lease_seconds=60)
    assert sorted((r.kind, r.address) for r in due) == [("end", r.address) for r in claimed]
    await store.complete([Outcome(r.id, "sent", None, f"end-{r.id}") for r in due])
    # a late report of a start changes its row, and sends nothing twice
    assert await store.apply_provider_status("sms", handed[claimed[0].id], "delivered", None, retry_at=None) == 1
    assert await store.claim("sms", 10, owner="next", lease_seconds=60) == []
    assert all(len(c) == 1 for c in (await _closings(store)).values())


async def test_a_start_in_doubt_the_provider_asks_to_retry_after_the_end_gets_no_closing(store):
    claimed, handed = await _ended_in_doubt(store, 1, in_doubt_seconds=30)
    [start] = claimed
    # a failure the provider would retry: after the end the start is not sent again, and the person
    # it never reached gets no closing
    assert await store.apply_provider_status("sms", handed[start.id], "failed", "busy",
                                             retry_at=time.time() - 1) == 1
    assert await store.claim("sms", 10, owner="next", lease_seconds=60) == []
    rows = {r["kind"]: r for r in await store.ledger_rows("act-000001")}
    assert (rows["start"]["status"], rows["start"]["reason"]) == ("failed", "busy")
    assert (rows["end"]["status"], rows["end"]["reason"]) == ("skipped", "start_not_delivered")


@pytest.mark.parametrize("hub_backend", ["postgresql"])
@pytest.mark.parametrize("report", ["failed", "delivered"])
async def test_a_report_waiting_for_an_end_on_another_hub_settles_the_closing_that_end_queued(store, report):
    """Another hub ends the action while the provider's report of an in-doubt start comes in: the
    end takes the start's row first, and the report, which waits for it, began before the end's
    closings existed. The closing is still skipped (start failed) or released (start arrived)."""
    import asyncpg

    action = {"id": "act-000001", "status": "active", "urgency": "time_critical", "version": 1}
    await store.create_action(action, [NewDelivery("sms", "+31612345670", "p0", "nl")], AUDIT)
    [start] = await store.claim("sms", 1, owner="dead", lease_seconds=60)
    await store.hand_over({start.id: "bh1:+31612345670"})
    await store.requeue_orphans(None, in_doubt_seconds=30)

    # the audit is written last in the end's transaction: holding it keeps the end open, its ledger done
    blocker = await asyncpg.connect(store.dsn)
    try:
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute("LOCK TABLE audit IN EXCLUSIVE MODE")
        ending = asyncio.create_task(store.end_action({**action, "status": "ended", "version": 2}, END))
        await asyncio.sleep(0.5)
        reporting = asyncio.create_task(
            store.apply_provider_status("sms", "bh1:+31612345670", report, None, retry_at=None))
        await asyncio.sleep(0.5)
        assert not ending.done() and not reporting.done()
        await holding.rollback()
        assert await ending == 1
        assert await reporting == 1
    finally:
        await blocker.close()

    [closing] = (await _closings(store))["+31612345670"]
    if report == "failed":
        assert (closing["status"], closing["reason"]) == ("skipped", "start_not_delivered")
    else:
        assert (closing["status"], closing["reason"]) == ("queued", None)
        assert [r.kind for r in await store.claim("sms", 10, owner="next", lease_seconds=60)] == ["end"]
