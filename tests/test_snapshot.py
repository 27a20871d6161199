"""The audience index snapshot: round trip, stale generations rebuild, erasure takes data off the disk."""

from __future__ import annotations

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


async def test_a_stale_snapshot_is_rebuilt_from_the_store(tmp_path):
    db = tmp_path / "hub.sqlite3"
    store, reg = await _registry(db)
    await reg.import_rows(people())
    await reg.close()
    await store.close()
    # another writer changes the store behind the hub's back: the generation moves on
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM participants WHERE id='p2'")
    conn.commit()
    conn.close()

    store, reg = await _registry(db)
    assert reg.last_load["source"] == "store"
    assert "p2" not in reg.index and len(reg.index) == 59
    assert snapshot.read_version(snapshot.path_for(db)) == await store.participants_version()
    await reg.close()
    await store.close()

    store, reg = await _registry(db)
    assert reg.last_load["source"] == "snapshot" and "p2" not in reg.index
    await reg.close()
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

    await reg.erase("p8", actor="op", role="operator")
    assert not path.exists()  # gone at once, before anything else is saved
    await reg.close()  # the next save holds everyone but the erased participant
    content = path.read_bytes()
    assert b"erase.me@example.nl" not in content and b"p8\n" not in content
    await store.close()

    store, reg = await _registry(db)
    assert reg.last_load["source"] == "snapshot" and "p8" not in reg.index and len(reg.index) == 59
    await reg.close()
    await store.close()


async def test_changes_are_saved_after_the_delay(tmp_path):
    db = tmp_path / "hub.sqlite3"
    store = SQLiteStore(db)
    await store.open()
    reg = ParticipantRegistry(store, AudienceIndex(), snapshot_delay=0.05)
    await reg.load()
    await reg.register(person("a", *UTRECHT))
    import asyncio

    for _ in range(100):
        if snapshot.read_version(snapshot.path_for(db)) == await store.participants_version():
            break
        await asyncio.sleep(0.02)
    assert snapshot.read_version(snapshot.path_for(db)) == await store.participants_version()
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
        assert not path.exists()
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
