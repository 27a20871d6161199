"""New ledger rows handed over as columns, and checkpoints kept off the committing transaction."""

from __future__ import annotations

import sqlite3

import pytest

from hub.store import AuditEntry, DeliveryColumns, NewDelivery, count_rows
from hub.store.checkpoint import Checkpointer
from hub.store.sqlite import SQLiteStore

AUDIT = AuditEntry("t", "dispatcher", "action.start", "act-1")


def action(id="act-1", **kw):
    return {"id": id, "status": "active", "urgency": "time_critical", "version": 1, **kw}


@pytest.fixture
async def store(tmp_path):
    s = SQLiteStore(tmp_path / "db.sqlite3")
    await s.open()
    await s.put_participants([(pid, {"id": pid}) for pid in ("p1", "p2", "p3", "p4", 'p-ë"q')]
                             + [(f"p{i}", {"id": f"p{i}"}) for i in range(30_000)])
    yield s
    await s.close()


def test_columns_are_rows_of_one_channel():
    block = DeliveryColumns("sms", ["+31611", "+31622", "+31633"], ["p1", None, "p3"], ["nl", "en", "nl"])
    assert len(block) == 3 and count_rows([block, block]) == 6
    assert list(block.rows())[1] == NewDelivery("sms", "+31622", None, "en")
    kept = block.without({"+31622"})
    assert list(kept.rows()) == [NewDelivery("sms", "+31611", "p1", "nl"), NewDelivery("sms", "+31633", "p3", "nl")]
    assert block.without(set()) is block


async def test_columns_and_rows_land_alike(store):
    block = DeliveryColumns("sms", ["+31611", "+31611", "+31622"], ["p1", "p2", 'p-ë"q'], ["nl", "nl", "en"])
    assert await store.create_action(action(), [block, DeliveryColumns("email", [], [], [])], AUDIT) == 2
    rows = store._conn.execute(
        "SELECT channel, address, participant_id, language FROM deliveries WHERE action_id='act-1' ORDER BY id"
    ).fetchall()
    assert rows == [("sms", "+31611", "p1", "nl"), ("sms", "+31622", 'p-ë"q', "en")]
    assert await store.create_action(action("act-2"), [NewDelivery("sms", "+31633", None, "nl")], AUDIT) == 1
    starts, _ = await store.update_action(
        {**action(), "version": 2}, [block.without({"+31611", "+31622"}), DeliveryColumns("sms", ["+31644"], ["p4"], ["nl"])],
        AUDIT, notify_reached=False,
    )
    assert starts == 1


async def test_commits_leave_checkpoints_to_the_checkpointer(store, tmp_path):
    conn = store._conn
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    wal = tmp_path / "db.sqlite3-wal"
    block = DeliveryColumns("sms", [f"+316{i:08d}" for i in range(30_000)], [f"p{i}" for i in range(30_000)],
                            ["nl"] * 30_000)
    await store.create_action(action(), [block], AUDIT)
    assert wal.stat().st_size > 4 * 1024 * 1024
    checkpointer = store._checkpointer
    checkpointer._pool.submit(lambda: None).result()  # wait for the checkpoint the commit started
    with sqlite3.connect(tmp_path / "db.sqlite3") as other:
        busy, log_frames, checkpointed = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and checkpointed == log_frames


def test_a_small_log_is_left_alone(tmp_path):
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
    checkpointer = Checkpointer(path)
    checkpointer.poke()
    assert not checkpointer._running.is_set()
    checkpointer.close()
