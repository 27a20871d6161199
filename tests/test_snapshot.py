"""The audience index snapshot: round trip, a snapshot behind the store catches up by replaying the
changes since, one that cannot rebuilds, erasure takes data off the disk within a bound."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from hub import snapshot
from hub.audience import AudienceIndex, IndexLoader
from hub.channel import Contact
from hub.models import Circle
from hub.participants import Participant
from hub.registry import ParticipantRegistry
from hub.store import ParticipantsVersion
from hub.store.sqlite import SQLiteStore

from conftest import UTRECHT, person

CHANNELS = {"sms": Contact.MOBILE, "email": Contact.EMAIL, "voice": Contact.PHONE}
TUESDAY_NOON = datetime(2026, 3, 10, 12, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
AREA = Circle(lat=UTRECHT[0], lon=UTRECHT[1], radius_m=5000)


def people(n: int = 60) -> list[dict]:
    out = []
    for i in range(n):
        extra: dict = {"email": f"p{i}@example.nl"} if i % 2 else {}
        if i % 5 == 0:
            extra["quiet_hours"] = {"from": "23:00", "to": "07:00"}
        if i % 7 == 0:
            extra["paused_until"] = "2026-03-20"
        if i % 11 == 0:
            extra["language"] = "en"
        lat, lon = UTRECHT[0] + 0.001 * (i % 10), UTRECHT[1] + 0.002 * (i // 10)
        p = person(f"p{i}", lat, lon, channels=("sms", "email", "voice"), **extra)
        if i % 3 == 0:
            p["addresses"].append(
                {
                    "label": "work",
                    "lat": 52.37,
                    "lon": 4.89,
                    "availability": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "18:00"}],  # noqa: E501
                }
            )
        out.append(p)
    if n > 5:
        out[5]["phones"] = list(out[4]["phones"])  # a shared number
    return out


def summary(index: AudienceIndex) -> tuple:
    sel = index.select(AREA, CHANNELS, TUESDAY_NOON)
    return sel.summary(), {c: sorted(sel.recipients(c)) for c in CHANNELS}


def test_index_round_trips_through_a_snapshot_file(tmp_path):
    built = AudienceIndex.build([Participant.from_dict(d) for d in people()])
    meta, arrays = built.snapshot()
    path = tmp_path / "x.audience"
    version = ParticipantsVersion("db1", 42)
    snapshot.write(path, version, meta, arrays)
    assert snapshot.read_version(path) == version
    found = snapshot.read(path)
    assert found is not None and found.version == version
    loaded = AudienceIndex.from_snapshot(found.meta, found.arrays)
    assert len(loaded) == len(built)
    assert summary(loaded) == summary(built)
    assert "p3" in loaded and "nobody" not in loaded
    # the loaded index keeps working: changes, removals, compaction
    loaded.upsert(Participant.from_dict(person("new", *UTRECHT, channels=("sms",))))
    assert loaded.remove("p1") and "p1" not in loaded
    loaded.compact()
    assert "new" in loaded and len(loaded) == len(built)


def test_records_load_like_participant_objects():
    data = people()
    from_objects = AudienceIndex.build([Participant.from_dict(d) for d in data])
    loader = IndexLoader(AudienceIndex())
    stored = [Participant.from_dict(d).to_dict() for d in data]
    loader.add_records(stored[:25])
    loader.add_records(stored[25:])
    assert summary(loader.finish()) == summary(from_objects)


def test_damaged_snapshot_is_refused(tmp_path):
    path = tmp_path / "x.audience"
    meta, arrays = AudienceIndex.build([Participant.from_dict(d) for d in people(5)]).snapshot()
    snapshot.write(path, ParticipantsVersion("db", 1), meta, arrays)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(snapshot.SnapshotError):
        snapshot.read(path)
    path.write_bytes(b"something else")
    with pytest.raises(snapshot.SnapshotError):
        snapshot.read(path)


async def _registry(db) -> tuple[SQLiteStore, ParticipantRegistry]:
    store = SQLiteStore(db)
    await store.open()
    registry = ParticipantRegistry(store, AudienceIndex(), snapshot_delay=None)
    await registry.load()
    return store, registry


async def test_registry_writes_a_snapshot_and_loads_it_next_time(tmp_path):
    db = tmp_path / "hub.sqlite3"
    store, reg = await _registry(db)
    await reg.import_rows(people())
    await reg.close()  # saves the changed index
    await store.close()
    assert snapshot.path_for(db).exists()

    store, reg = await _registry(db)
    assert reg.last_load["source"] == "snapshot" and len(reg.index) == 60
    expected = summary(AudienceIndex.build([Participant.from_dict(d) for d in people()]))
    assert summary(reg.index) == expected
    await reg.close()
    await store.close()


async def _saved_then_changed_behind_its_back(db, *statements: str) -> None:
    """A hub saves its snapshot and stops; another writer then deletes p2 (and runs ``statements``)."""
    store, reg = await _registry(db)
    await reg.import_rows(people())
    await reg.close()
    await store.close()
    conn = sqlite3.connect(db)
    for sql in ("DELETE FROM participants WHERE id='p2'", *statements):
        conn.execute(sql)
    conn.commit()
    conn.close()


async def test_a_snapshot_behind_the_store_replays_another_writers_changes(tmp_path):
    db = tmp_path / "hub.sqlite3"
    await _saved_then_changed_behind_its_back(db)

    store, reg = await _registry(db)
    assert reg.last_load["source"] == "snapshot+replay" and reg.last_load["removed"] == 1
    assert "p2" not in reg.index and len(reg.index) == 59
    await reg.close()  # saves the current index
    assert snapshot.read_version(snapshot.path_for(db)) == await store.participants_version()
    await store.close()

    store, reg = await _registry(db)
    assert reg.last_load["source"] == "snapshot" and "p2" not in reg.index
    await reg.close()
    await store.close()


async def test_changes_the_store_cannot_tell_rebuild(tmp_path):
    db = tmp_path / "hub.sqlite3"
    # a change made before the store recorded row generations (or whose tombstone was pruned)
    await _saved_then_changed_behind_its_back(
        db,
        "UPDATE store_meta SET value=(SELECT value FROM store_meta WHERE key='participants_generation')"
        " WHERE key='participant_changes_since'",
    )

    store, reg = await _registry(db)
    assert reg.last_load["source"] == "store" and "p2" not in reg.index and len(reg.index) == 59
    assert snapshot.read_version(snapshot.path_for(db)) == await store.participants_version()
    await reg.close()
    await store.close()


async def test_too_many_changes_rebuild(tmp_path):
    db = tmp_path / "hub.sqlite3"
    store, reg = await _registry(db)
    await reg.import_rows(people())
    await reg.close()
    reg = ParticipantRegistry(store, AudienceIndex(), snapshot_delay=None, replay_limit=0.1)
    await store.put_participants([(f"x{i}", person(f"x{i}", *UTRECHT)) for i in range(1_001)])  # > max(1000, 6)
    await reg.load()
    assert reg.last_load["source"] == "store" and len(reg.index) == 1_061
    await reg.close()
    await store.close()


async def _until_saved(path, store, seconds: float = 2.0) -> None:
    """Wait until the snapshot at ``path`` holds the store's current generation (fails after ``seconds``)."""
    for _ in range(int(seconds / 0.01)):
        if snapshot.read_version(path) == await store.participants_version():
            return
        await asyncio.sleep(0.01)
    assert snapshot.read_version(path) == await store.participants_version()


def _copy_state(db, to):
    """What a crash leaves on disk: the database, its write-ahead log and the snapshot, as they are."""
    to.mkdir()
    for suffix in ("", "-wal", ".audience"):
        src = db.with_name(db.name + suffix)
        if src.exists():
            (to / src.name).write_bytes(src.read_bytes())
    return to / db.name


async def test_a_crash_after_changes_restarts_from_the_snapshot_and_the_changes_since(tmp_path):
    db = tmp_path / "hub.sqlite3"
    store = SQLiteStore(db)
    await store.open()
    reg = ParticipantRegistry(store, AudienceIndex(), snapshot_delay=60.0)
    await reg.load()
    data = people()
    data[8]["email"] = "erase.me@example.nl"
    await reg.import_rows(data)
    await reg.save_snapshot()
    saved = snapshot.read_version(snapshot.path_for(db))
    far = (52.37, 4.89)  # Amsterdam: outside AREA
    await reg.update("p0", person("p0", *far, channels=("sms",)))  # moves out of the area
    moved_in = person("p1", *UTRECHT, channels=("sms",))
    moved_in["phones"] = [{"number": "+31612000001", "kind": "mobile"}]
    await reg.update("p1", moved_in)
    await reg.register(person("new", *UTRECHT, channels=("sms", "email"), email="new@example.nl"))
    await reg.erase("p8", actor="op", role="operator")
    reg.erase_save_delay = 60.0  # (already scheduled: the crash comes first)
    crashed = _copy_state(db, tmp_path / "after-crash")  # no close, no save: the snapshot is behind
    assert snapshot.read_version(snapshot.path_for(crashed)) == saved
    expected = summary(reg.index)

    store2 = SQLiteStore(crashed)
    await store2.open()
    reg2 = ParticipantRegistry(store2, AudienceIndex(), snapshot_delay=None, erase_save_delay=0.01)
    await reg2.load()
    assert reg2.last_load["source"] == "snapshot+replay"
    assert reg2.last_load["upserted"] == 3 and reg2.last_load["removed"] == 1
    assert "new" in reg2.index and "p8" not in reg2.index and len(reg2.index) == 60
    assert summary(reg2.index) == expected
    sel = reg2.index.select(AREA, CHANNELS, TUESDAY_NOON)
    assert "+31612000001" in [m.address for m in sel.recipients("sms")]
    assert "p0" not in {m.participant_id for m in sel.recipients("sms")}
    # the erasure replayed: the snapshot is rewritten without them right after the start
    path = snapshot.path_for(crashed)
    await _until_saved(path, store2)
    assert b"erase.me@example.nl" not in path.read_bytes()
    await reg2.close()
    await store2.close()
    await reg.close()
    await store.close()


async def test_a_snapshot_of_another_database_is_not_used(tmp_path):
    one, other = tmp_path / "one.sqlite3", tmp_path / "other.sqlite3"
    store, reg = await _registry(one)
    await reg.import_rows(people())
    await reg.close()
    await store.close()
    store, reg = await _registry(other)
    await reg.import_rows(people(10))
    await reg.close()
    await store.close()
    # the other database's snapshot, at a generation this one has passed
    snapshot.path_for(one).write_bytes(snapshot.path_for(other).read_bytes())
    store, reg = await _registry(one)
    assert reg.last_load["source"] == "store" and len(reg.index) == 60
    assert snapshot.read_version(snapshot.path_for(one)) == await store.participants_version()
    await reg.close()
    await store.close()


async def test_a_snapshot_of_a_later_state_than_the_store_is_not_used(tmp_path):
    db = tmp_path / "hub.sqlite3"
    store, reg = await _registry(db)
    await reg.import_rows(people())
    await reg.close()
    # the database restored from a backup older than the snapshot
    path, version = snapshot.path_for(db), await store.participants_version()
    found = snapshot.read(path)
    snapshot.write(path, ParticipantsVersion(version.database_id, version.generation + 5), found.meta, found.arrays)
    reg = ParticipantRegistry(store, AudienceIndex(), snapshot_delay=None)
    await reg.load()
    assert reg.last_load["source"] == "store" and snapshot.read_version(path) == version
    await reg.close()
    await store.close()


async def test_writes_during_the_load_are_in_the_index_exactly_when_its_generation_covers_them(
    tmp_path, monkeypatch
):
    db = tmp_path / "hub.sqlite3"
    store, reg = await _registry(db)
    await reg.import_rows(people())
    await reg.close()
    await store.put_participants([("late0", person("late0", *UTRECHT))])  # the snapshot is behind
    read = snapshot.read
    generations = {}

    def read_while_another_writer_writes(path):
        # another process writes while the hub reads its snapshot and the changes since
        conn = sqlite3.connect(db, timeout=5)
        for i in (1, 2, 3):
            conn.execute(
                "INSERT INTO participants (id, data, created_at, updated_at) VALUES (?, ?, 0, 0)",
                (f"late{i}", json.dumps(Participant.from_dict(person(f"late{i}", *UTRECHT)).to_dict())),
            )
            conn.commit()
            generations[f"late{i}"] = conn.execute(
                "SELECT generation FROM participants WHERE id=?", (f"late{i}",)
            ).fetchone()[0]
        conn.close()
        return read(path)

    monkeypatch.setattr(snapshot, "read", read_while_another_writer_writes)
    reg = ParticipantRegistry(store, AudienceIndex(), snapshot_delay=None)
    await reg.load()
    monkeypatch.setattr(snapshot, "read", read)
    assert reg.last_load["source"] == "snapshot+replay" and "late0" in reg.index
    stamp = reg._version.generation
    for pid, generation in generations.items():
        assert (pid in reg.index) == (generation <= stamp), (pid, generation, stamp)
    await reg.close()
    reg = ParticipantRegistry(store, AudienceIndex(), snapshot_delay=None)
    await reg.load()  # whatever the first load missed, this one replays
    assert all(f"late{i}" in reg.index for i in range(4)) and len(reg.index) == 64
    await reg.close()
    await store.close()


async def test_rows_carry_the_generation_of_their_last_write_and_removals_leave_tombstones(tmp_path):
    from hub.store import AuditEntry

    store = SQLiteStore(tmp_path / "hub.sqlite3")
    await store.open()
    await store.put_participants([("a", person("a", *UTRECHT)), ("b", person("b", *UTRECHT))])  # 1, 2
    await store.put_participants([("a", person("a", *UTRECHT, email="a@example.nl"))])  # 3
    await store.erase_participant("b", AuditEntry("op", "operator", "participant.erase", "participant"))  # 4
    changes = await store.participant_changes(1)
    assert changes.version.generation == 4 and changes.removed == ["b"]
    assert [json.loads(t)["id"] for t in changes.texts] == ["a"]
    assert (await store.participant_changes(3)).texts == [] and (await store.participant_changes(4)).removed == []
    assert (await store.participant_changes(5)).texts is None  # a later state than the store's
    assert (await store.participant_changes(0, limit=1)).texts is None  # too many
    await store.put_participants([("b", person("b", *UTRECHT))])  # 5: back again, tombstone dropped
    changes = await store.participant_changes(1)
    assert changes.removed == [] and sorted(json.loads(t)["id"] for t in changes.texts) == ["a", "b"]
    await store.erase_participant("b", AuditEntry("op", "operator", "participant.erase", "participant"))  # 6
    assert await store.prune_participant_tombstones(6) == 1
    assert (await store.participant_changes(5)).texts is None  # pruned: cannot replay from before 6
    assert (await store.participant_changes(6)).texts == []
    await store.close()


async def test_a_database_from_before_row_generations_is_migrated(tmp_path):
    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE participants (id TEXT PRIMARY KEY, data TEXT NOT NULL, token_hash TEXT UNIQUE,
            created_at REAL NOT NULL, updated_at REAL NOT NULL);
        CREATE TABLE store_meta (key TEXT PRIMARY KEY, value NOT NULL);
        INSERT INTO store_meta VALUES ('database_id', 'old'), ('participants_generation', 7);
        CREATE TRIGGER participants_generation_insert AFTER INSERT ON participants BEGIN
            UPDATE store_meta SET value = value + 1 WHERE key = 'participants_generation';
        END;
        INSERT INTO participants VALUES ('a', '{}', NULL, 0, 0);
        """
    )
    conn.commit()
    conn.close()
    store = SQLiteStore(db)
    await store.open()
    assert await store.participants_version() == ParticipantsVersion("old", 8)
    assert (await store.participant_changes(7)).texts is None  # from before the migration: unknown
    assert (await store.participant_changes(8)).texts == []
    await store.put_participants([("b", person("b", *UTRECHT))])
    changes = await store.participant_changes(8)
    assert changes.version.generation == 9 and [json.loads(t)["id"] for t in changes.texts] == ["b"]
    await store.close()


async def test_every_participant_write_bumps_the_generation(tmp_path):
    store = SQLiteStore(tmp_path / "hub.sqlite3")
    await store.open()
    v0 = await store.participants_version()
    step = await store.put_participants([("a", person("a", *UTRECHT)), ("b", person("b", *UTRECHT))])
    assert (step.before, step.after) == (v0.generation, v0.generation + 2)
    await store.set_participant_token("a", "hash")  # not index data: no bump
    assert (await store.participants_version()).generation == step.after
    from hub.store import AuditEntry

    erased = await store.erase_participant("a", AuditEntry("op", "operator", "participant.erase", "participant"))
    assert erased is not None and erased.after == step.after + 1
    assert await store.erase_participant("a", AuditEntry("op", "operator", "x", "participant")) is None
    assert (await store.participants_version()).database_id == v0.database_id
    await store.close()


async def test_erasing_a_participant_takes_them_out_of_the_snapshot(tmp_path):
    db = tmp_path / "hub.sqlite3"
    path = snapshot.path_for(db)
    store, reg = await _registry(db)
    data = people()
    data[8]["email"] = "erase.me@example.nl"
    await reg.import_rows(data)
    await reg.save_snapshot()
    assert b"erase.me@example.nl" in path.read_bytes()

    reg.erase_save_delay = 0.05
    await reg.erase("p8", actor="op", role="operator")
    assert path.exists()  # still there: a crash now starts from it and replays the erasure
    # rewritten without them within the bound: the delay plus one save
    await _until_saved(path, store)
    content = path.read_bytes()
    assert b"erase.me@example.nl" not in content and b"p8\n" not in content
    assert (await store.participant_changes(0)).texts is None  # the tombstones were pruned
    await reg.close()
    await store.close()

    store, reg = await _registry(db)
    assert reg.last_load["source"] == "snapshot" and "p8" not in reg.index and len(reg.index) == 59
    await reg.close()
    await store.close()


async def test_a_failed_save_after_an_erasure_deletes_the_snapshot(tmp_path, monkeypatch):
    db = tmp_path / "hub.sqlite3"
    path = snapshot.path_for(db)
    store, reg = await _registry(db)
    await reg.import_rows(people())
    await reg.save_snapshot()

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(snapshot, "write", full_disk)
    await reg.erase("p8", actor="op", role="operator")
    await reg.save_snapshot()
    assert not path.exists()
    await reg.close()
    await store.close()


async def test_changes_are_saved_after_the_delay(tmp_path):
    db = tmp_path / "hub.sqlite3"
    store = SQLiteStore(db)
    await store.open()
    reg = ParticipantRegistry(store, AudienceIndex(), snapshot_delay=0.05)
    await reg.load()
    await reg.register(person("a", *UTRECHT))

    await _until_saved(snapshot.path_for(db), store)
    await reg.close()
    await store.close()


async def test_scan_streams_chunks_from_one_read(tmp_path):
    store = SQLiteStore(tmp_path / "hub.sqlite3")
    await store.open()
    await store.put_participants([(f"p{i}", person(f"p{i}", *UTRECHT)) for i in range(25)])
    async with store.scan_participants(chunk_size=10) as scan:
        sizes = []
        async for texts in scan:
            sizes.append(len(texts))
            await store.put_participants([("late", person("late", *UTRECHT))])  # not seen by this scan
        assert scan.version.generation == 25
    assert sizes == [10, 10, 5]
    await store.close()


async def test_in_memory_store_loads_without_snapshot():
    store = SQLiteStore(":memory:")
    await store.open()
    reg = ParticipantRegistry(store, AudienceIndex())
    assert reg.snapshot_path is None
    await store.put_participants([(f"p{i}", person(f"p{i}", *UTRECHT)) for i in range(3)])
    assert await reg.load() == 3 and reg.last_load["source"] == "store"
    await reg.close()
    await store.close()


def test_snapshot_arrays_survive_later_updates():
    index = AudienceIndex.build([Participant.from_dict(d) for d in people()])
    meta, arrays = index.snapshot()
    before = {k: v.copy() for k, v in arrays.items()}
    index.upsert(Participant.from_dict(person("x", *UTRECHT)))
    index.remove("p1")
    assert all(np.array_equal(before[k], arrays[k]) for k in arrays)


async def test_rebuild_in_processes_matches_a_single_stream(tmp_path, monkeypatch):
    from hub import rebuild

    db = tmp_path / "hub.sqlite3"
    store = SQLiteStore(db)
    await store.open()
    data = people(90)
    await store.put_participants([(d["id"], Participant.from_dict(d).to_dict()) for d in data])
    await store.put_participants([("p3", Participant.from_dict(data[40] | {"id": "p3"}).to_dict())])  # moved
    monkeypatch.setattr(rebuild, "MIN_PARTICIPANTS", 10)
    built = await rebuild.rebuild_in_processes(store, processes=3, chunk_size=7)
    assert built is not None
    index, version = built
    assert version == await store.participants_version()
    streamed = ParticipantRegistry(store, AudienceIndex(), snapshot_path=None, processes=1)
    await streamed.load()
    assert len(index) == len(streamed.index) == 90
    assert summary(index) == summary(streamed.index)
    await store.close()


def test_a_compaction_computed_aside_is_dropped_when_the_index_changed_meanwhile():
    index = AudienceIndex.build([Participant.from_dict(d) for d in people()], auto_compact=False)
    index.remove("p1")
    stale = index.compaction()
    index.upsert(Participant.from_dict(person("late", *UTRECHT)))
    assert not index.apply_compaction(stale) and "late" in index
    assert index.apply_compaction(index.compaction()) and index.compacted
    assert "late" in index and "p1" not in index and len(index) == 60


async def test_a_hub_saves_its_index_when_it_stops_and_starts_from_it(make_hub, tmp_path):
    data_dir = tmp_path / "hubdata"
    async with make_hub(data_dir=data_dir, engine=False) as hub:
        for d in people(12):
            await hub.registry.register(d)
        path = hub.registry.snapshot_path
        assert path == snapshot.path_for(hub.config.database_path)
    assert path.exists()
    async with make_hub(data_dir=data_dir, engine=False) as hub:
        assert hub.registry.last_load["source"] == "snapshot" and len(hub.audience) == 12
        await hub.registry.erase("p3", actor="op", role="operator")
    async with make_hub(data_dir=data_dir, engine=False) as hub:
        assert hub.registry.last_load["source"] == "snapshot"
        assert "p3" not in hub.audience and len(hub.audience) == 11


async def test_a_failing_worker_falls_back_to_streaming(tmp_path, monkeypatch):
    from hub import rebuild

    store = SQLiteStore(tmp_path / "hub.sqlite3")
    await store.open()
    await store.put_participants([(d["id"], Participant.from_dict(d).to_dict()) for d in people(30)])
    monkeypatch.setattr(rebuild, "MIN_PARTICIPANTS", 10)
    monkeypatch.setattr(rebuild.sys, "executable", str(tmp_path / "no-such-python"))
    assert await rebuild.rebuild_in_processes(store, processes=2) is None
    registry = ParticipantRegistry(store, AudienceIndex(), snapshot_path=None, processes=2)
    assert await registry.load() == 30
    await store.close()
