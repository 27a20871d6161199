"""The store, on both backends: unique ledger rows, one transaction per lifecycle change, leases and
crash recovery, claims that never overlap, erasure enforced where ledger rows are written, schema versions."""

from __future__ import annotations

import pytest

import asyncio
import sqlite3

from hub.errors import Conflict, SchemaTooNew
from hub.store import AuditEntry, NewDelivery, Outcome
from hub.store.select import open_store
from hub.testing import BACKENDS

AUDIT = AuditEntry("t", "dispatcher", "action.start", "a1")
#: the participants the ``store`` fixture registers (ledger rows are written only for existing ones)
PARTICIPANTS = [f"p{i}" for i in range(50)] + ['p-ë"quote', 'p-ë"q']


def action(id="act-000001", **kw):
    return {"id": id, "status": "active", "urgency": "time_critical", "version": 1, **kw}


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


@pytest.fixture
def store_participants():
    return PARTICIPANTS


async def test_one_row_per_action_recipient_channel_and_kind(store):
    rows = [NewDelivery("sms", "+31612345678", "p1", "nl"), NewDelivery("sms", "+31612345678", "p2", "nl"),
            NewDelivery("email", "a@example.org", "p1", "nl")]
    assert await store.create_action(action(), rows, AUDIT) == 2
    with pytest.raises(Conflict):
        await store.create_action(action(), rows, AUDIT)


async def test_a_failed_transaction_leaves_nothing_behind(store, monkeypatch):
    def boom(conn, entry):
        raise RuntimeError("disk full")

    import hub.store.pg_ledger
    import hub.store.postgres
    import hub.store.sqlite

    monkeypatch.setattr(hub.store.sqlite, "audit_args", lambda entry: boom(None, entry))
    monkeypatch.setattr(hub.store.postgres, "audit_args", lambda entry: boom(None, entry))
    monkeypatch.setattr(hub.store.pg_ledger, "audit_args", lambda entry: boom(None, entry))
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


async def test_a_start_the_provider_reports_failed_skips_the_persons_updates_and_closing(store):
    rows = [NewDelivery("sms", f"+3161111111{i}", f"p{i}", "nl") for i in range(2)]
    await store.create_action(action(), rows, AUDIT)
    claimed = await store.claim("sms", 2, owner="w", lease_seconds=60)
    await store.complete([Outcome(r.id, "sent", provider_id=f"SM{r.id}") for r in claimed])
    for version in (2, 3):  # two updates, each queued for both
        assert await store.update_action(action(version=version), [], AUDIT, notify_reached=True) == (0, 2)
    first, second = claimed

    def follow_ups(ledger):
        return {(r["address"], r["kind"], r["seq"]): (r["status"], r["reason"]) for r in ledger if r["kind"] != "start"}

    assert await store.apply_provider_status("sms", f"SM{first.id}", "failed", "absent", retry_at=None) == 1
    assert follow_ups(await store.ledger_rows("act-000001")) == {
        **{(first.address, "update", s): ("skipped", "start_not_delivered") for s in (2, 3)},
        **{(second.address, "update", s): ("queued", None) for s in (2, 3)},
    }
    # the end queues a closing for the second only; the report that its start failed comes after
    assert await store.end_action(action(status="ended", version=4), AUDIT) == 1
    assert await store.apply_provider_status("sms", f"SM{second.id}", "failed", "absent", retry_at=None) == 1
    assert follow_ups(await store.ledger_rows("act-000001")) == {
        **{(first.address, "update", s): ("skipped", "start_not_delivered") for s in (2, 3)},
        **{(second.address, "update", s): ("cancelled", "action_ended") for s in (2, 3)},
        (second.address, "end", 0): ("skipped", "start_not_delivered"),
    }
    assert await store.claim("sms", 10, owner="w", lease_seconds=60) == []


@pytest.mark.parametrize("hub_backend", ["sqlite"])
async def test_a_retry_report_looks_up_only_its_own_rows_action(store):
    # a provider's retry report asks whether the action of the rows it names ended: one lookup by
    # the action's key, not a list of every ended action's id made for each report
    from hub.store import queries

    plan = " / ".join(r[3] for r in await store._all(
        "EXPLAIN QUERY PLAN UPDATE deliveries SET status='failed', reason=?, updated_at=? WHERE channel=?"
        f" AND provider_id=? AND {queries.ENDED_FOLLOWS} RETURNING id, kind", (None, 0, "sms", "ref-1")))
    assert "LIST SUBQUERY" not in plan and "actions_status" not in plan, plan


async def test_provider_status_only_moves_forward(store):
    await store.create_action(action(), [NewDelivery("sms", "+31612345678", "p1", "nl")], AUDIT)
    row = (await store.claim("sms", 1, owner="w", lease_seconds=60))[0]
    await store.complete([Outcome(row.id, "sent", provider_id="SM9")])
    assert await store.apply_provider_status("sms", "SM9", "delivered", None, retry_at=None) == 1
    # a late, out-of-order "sent" report and a "failed" after delivery change nothing
    assert await store.apply_provider_status("sms", "SM9", "sent", None, retry_at=None) == 0
    assert await store.apply_provider_status("sms", "SM9", "failed", "late", retry_at=None) == 0
    assert (await store.ledger_rows("act-000001"))[0]["status"] == "delivered"


async def test_two_claims_at_once_never_take_the_same_row(store):
    rows = [NewDelivery("email", f"r{i}@x.org", None, "nl") for i in range(300)]
    await store.create_action(action(), rows, AUDIT)
    first, second = await asyncio.gather(
        store.claim("email", 200, owner="a", lease_seconds=60), store.claim("email", 200, owner="b", lease_seconds=60)
    )
    assert len(first) + len(second) == 300
    assert not {r.id for r in first} & {r.id for r in second}


async def test_an_erased_participant_is_never_queued_again(store):
    erase = AuditEntry("t", "operator", "participant.erase", "participant")
    assert await store.erase_participant("p1", erase) is not None
    # an index in memory that has not seen the erasure yet still selects p1: the store refuses the row
    rows = [NewDelivery("sms", "+31611111111", "p1", "nl"), NewDelivery("sms", "+31622222222", "p2", "nl")]
    assert await store.create_action(action(), rows, AUDIT) == 1
    assert [r["participant_id"] for r in await store.ledger_rows("act-000001")] == ["p2"]


async def test_erasure_scrubs_the_ledger_and_no_closing_goes_to_the_erased(store):
    await store.create_action(action(), [NewDelivery("sms", "+31611111111", "p1", "nl")], AUDIT)
    [row] = await store.claim("sms", 1, owner="w", lease_seconds=60)
    await store.complete([Outcome(row.id, "sent")])
    await store.erase_participant("p1", AuditEntry("t", "operator", "participant.erase", "participant"))
    [start] = await store.ledger_rows("act-000001")
    assert start["participant_id"] is None and "+3161" not in start["address"]
    assert await store.end_action(action(status="ended", version=2), AUDIT) == 0


async def test_participant_changes_since_a_generation(store):
    v0 = await store.participants_version()
    await store.put_participants([("p1", {"id": "p1", "language": "en"})])
    await store.erase_participant("p2", AuditEntry("t", "operator", "participant.erase", "participant"))
    changes = await store.participant_changes(v0.generation)
    assert changes.version.generation >= v0.generation + 2
    assert changes.removed == ["p2"] and len(changes.texts) == 1 and '"en"' in changes.texts[0]
    assert (await store.participant_changes(changes.version.generation)).texts == []


async def test_photos_and_channel_records_live_in_the_store(store):
    await store.photo_put("a" * 32 + ".jpg", "image/jpeg", b"\xff\xd8jpeg")
    assert await store.photo_get("a" * 32 + ".jpg") == (b"\xff\xd8jpeg", "image/jpeg")
    await store.record_put("app", "vapid", {"public": "k"})
    assert await store.record_scan("app", "va") == [("vapid", {"public": "k"})]


async def test_a_database_from_a_newer_burgerhub_is_refused(store, tmp_path, database_url):
    await store.close()
    if database_url:
        import asyncpg

        conn = await asyncpg.connect(database_url)
        await conn.execute("UPDATE store_meta SET value='999' WHERE key='schema_version'")
        await conn.close()
    else:
        conn = sqlite3.connect(tmp_path / "db.sqlite3")
        conn.execute("UPDATE store_meta SET value=999 WHERE key='schema_version'")
        conn.commit()
        conn.close()
    again = open_store(database_url, tmp_path / "db.sqlite3")
    with pytest.raises(SchemaTooNew, match="version 999, newer than this burgerhub knows"):
        await again.open()


async def test_app_first_state_reads_the_first_channel_rows_of_those_who_chose_it(store):
    await store.put_participants([("p1", {"id": "p1", "app_first": True}), ("p2", {"id": "p2"})])
    rows = [NewDelivery("app", "tok-1", "p1", "nl"), NewDelivery("app", "tok-2", "p2", "nl"),
            NewDelivery("sms", "+31611111111", "p1", "nl")]
    await store.create_action(action(), rows, AUDIT)
    state = await store.app_first_state("act-000001", "app", "start", ["p1", "p2", "p3"])
    assert list(state) == ["p1"] and state["p1"][0] == "queued"
    assert await store.app_first_state("act-000001", "sms", "start", ["p2"]) == {}
    assert await store.app_first_state("act-000001", "app", "start", []) == {}


async def test_the_first_rule_set_seeds_the_store_once_and_later_ones_follow(store):
    """A hub's rules file seeds the store only while none is stored (one statement, on SQLite before
    3.39 too); a rule set put in force later is the next version."""
    assert await store.rules_version() == 0
    assert await store.store_rules("version: 1\n", "a" * 64, source="file", actor="hub", role="system", seed=True) == 1
    assert await store.store_rules("version: 1\n# b\n", "b" * 64, source="file", actor="hub", role="system",
                                   seed=True) is None
    assert await store.store_rules("version: 1\n# c\n", "c" * 64, source="api", actor="op", role="operator") == 2
    stored = await store.active_rules()
    assert (stored.version, stored.text, stored.source) == (2, "version: 1\n# c\n", "api")
