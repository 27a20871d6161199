"""How often each participant was reached: the store's count against one made here from the raw ledger
rows, for every shape of participant id (the hub's 16 characters, short and long ids, ids of mixed lengths or
holding a line break, and a hash that collides), on both store backends; and the index that serves it."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from bench import dataset, history
from hub.participants import new_id
from hub.store import evaluation, reach, slice_reader
from hub.store.select import open_store
from hub.testing import BACKENDS

JAN = datetime(2026, 1, 1, tzinfo=history.TZ)
FEB = datetime(2026, 2, 1, tzinfo=history.TZ)


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


def _ids(shape: str, n: int) -> list[str]:
    rng = random.Random(3)
    if shape == "hub":
        return [new_id() for _ in range(n)]
    if shape == "short":
        return [f"p{k:06d}" for k in range(n)]
    if shape == "long":
        return [f"participant-{k:012d}-of-the-set" for k in range(n)]
    if shape == "line break":
        return [f"p{k:05d}\n{k % 7}" for k in range(n)]
    return [f"p{k}" + "x" * rng.randrange(0, 5) for k in range(n)]  # mixed lengths


async def _store_with_history(tmp_path, database_url, shape: str):
    cols = dataset.generate(2_000, 11)
    ids = dict(zip((f"{i:016x}" for i in cols.ids.tolist()), _ids(shape, len(cols))))
    items = []
    for data, rows, tips in history.generate(cols, first_month=JAN, months=1, actions_per_month=120, seed=5):
        items.append((data, [(c, k, a, ids[p], s, t0, t1) for c, k, a, p, s, t0, t1 in rows], tips))
    path = tmp_path / "db.sqlite3"
    store = open_store(database_url, path)
    await store.open()
    if store.backend == "sqlite":
        history.write_sqlite(path, items, keep=False)
    else:
        await history.write_postgres(database_url, items, keep=False)
    return store


async def _raw_reach(store, action_ids=None) -> dict[int, int]:
    per_person = defaultdict(set)
    for aid, pid, kind, status in await store._all(
            "SELECT action_id, participant_id, kind, status FROM deliveries"):
        if kind == "start" and status in ("sending", "sent", "delivered") and pid is not None:
            if action_ids is None or aid in action_ids:
                per_person[pid].add(aid)
    return dict(Counter(len(s) for s in per_person.values()))


@pytest.mark.parametrize("shape", ["hub", "short", "long", "mixed", "line break"])
async def test_reach_counts_equal_the_raw_rows_for_every_shape_of_id(tmp_path, database_url, shape):
    store = await _store_with_history(tmp_path, database_url, shape)
    try:
        want = await _raw_reach(store)
        assert max(want) > 1  # people reached more than once
        assert await store.reach_counts(JAN.timestamp(), FEB.timestamp()) == want
        # ids of one length take the numpy path on both backends (each action's ids come in order)
        sql = evaluation.REACH_IDS["sqlite" if store.backend == "sqlite" else "postgres"].format(ids="")
        ids = reach.split([v for (v,) in await store._all(sql, (JAN.timestamp(), FEB.timestamp()))])
        fast = ids is not None and reach.reach_counts(*ids) is not None
        assert fast == (shape in ("hub", "short", "long"))
        some = sorted({r[0] for r in await store._all("SELECT id FROM actions")})[::3]
        got = await store.reach_counts(JAN.timestamp(), FEB.timestamp(), some)
        assert got == await _raw_reach(store, set(some))
        # an erased participant's rows lose their id and no longer count
        (pid,) = (await store._all("SELECT participant_id FROM deliveries WHERE kind='start' LIMIT 1"))[0]
        await store._run("UPDATE deliveries SET participant_id=NULL WHERE participant_id=?", (pid,))
        assert await store.reach_counts(JAN.timestamp(), FEB.timestamp()) == await _raw_reach(store)
        # start rows still in flight (actions going out while the report is drawn) reached their
        # people too: some were sent (on SQLite they leave deliveries_reach), some had failed
        await store._run("UPDATE deliveries SET status='sending' WHERE kind='start' AND id - id / 5 * 5 = 0")
        flight = await store._all("SELECT DISTINCT action_id FROM deliveries WHERE status='sending'")
        assert 0 < len(flight) < len(await store._all("SELECT id FROM actions"))
        want = await _raw_reach(store)
        assert await store.reach_counts(JAN.timestamp(), FEB.timestamp()) == want
        ids = reach.split([v for (v,) in await store._all(sql, (JAN.timestamp(), FEB.timestamp()))])
        assert (ids is not None and reach.reach_counts(*ids) is not None) == fast
        assert await store.reach_counts(JAN.timestamp(), FEB.timestamp(), some) == await _raw_reach(store, set(some))
    finally:
        await store.close()


@pytest.mark.parametrize("readers", [1, 2])
async def test_the_period_read_in_slices_counts_the_same(tmp_path, database_url, monkeypatch, caplog, readers):
    """Slices of 7 actions: from an SQLite file read by two processes side by side or in this one, from
    PostgreSQL one ahead; the count is the raw rows' either way (whole period and chosen actions)."""
    store = await _store_with_history(tmp_path, database_url, "hub")
    try:
        monkeypatch.setattr(evaluation, "REACH_SLICE", 7)
        monkeypatch.setattr(evaluation, "REPORT_READERS", readers)
        started = []
        real = evaluation._read_in_processes

        def spy(*args):
            started.append(args[-1])
            return real(*args)

        monkeypatch.setattr(evaluation, "_read_in_processes", spy)
        assert await store.reach_counts(JAN.timestamp(), FEB.timestamp()) == await _raw_reach(store)
        some = sorted({r[0] for r in await store._all("SELECT id FROM actions")})[1::4]
        assert await store.reach_counts(JAN.timestamp(), FEB.timestamp(), some) == await _raw_reach(store, set(some))
        assert started == ([2, 2] if readers == 2 and store.backend == "sqlite" else [])
        assert "reading the rest of a report" not in caplog.text  # the readers read it all
    finally:
        await store.close()


async def test_a_reader_that_fails_leaves_the_rest_to_this_process(tmp_path, monkeypatch, caplog):
    """A reader process that cannot open the file (or stops short): the slices not yet read are read
    here, the count is the same, and a warning names what failed (no ids, no arguments)."""
    store = await _store_with_history(tmp_path, "", "hub")
    try:
        want = await _raw_reach(store)
        monkeypatch.setattr(evaluation, "REACH_SLICE", 10)
        monkeypatch.setattr(evaluation, "REPORT_READERS", 2)
        broken = tmp_path / "reader.py"
        # reads its request, writes one slice's frame, then fails as the real script does
        broken.write_text(
            "import json, sys, sqlite3\n"
            f"sys.path.insert(0, {str(Path(slice_reader.__file__).parent)!r})\n"
            "import slice_reader\n"
            "r = json.load(sys.stdin)\n"
            "c = sqlite3.connect(r['path'])\n"
            "sys.stdout.buffer.write(slice_reader.frame([v for (v,) in c.execute(r['sql'], r['slices'][0])]))\n"
            "sys.stdout.buffer.flush()\n"
            "print('OperationalError slice 1: disk I/O error', file=sys.stderr)\n"
            "sys.exit(1)\n")
        monkeypatch.setattr(slice_reader, "__file__", str(broken))
        with caplog.at_level("WARNING", logger="burgerhub.store.evaluation"):
            assert await store.reach_counts(JAN.timestamp(), FEB.timestamp()) == want
        assert "disk I/O error" in caplog.text
        pids = [r[0] for r in await store._all("SELECT DISTINCT participant_id FROM deliveries LIMIT 50")]
        assert not any(pid in caplog.text for pid in pids) and str(JAN.timestamp()) not in caplog.text
        # a reader that cannot start at all
        monkeypatch.setattr(evaluation.sys, "executable", str(tmp_path / "no-such-python"))
        caplog.clear()
        with caplog.at_level("WARNING", logger="burgerhub.store.evaluation"):
            assert await store.reach_counts(JAN.timestamp(), FEB.timestamp()) == want
        assert "cannot start a report reader" in caplog.text
    finally:
        await store.close()


async def test_a_hash_shared_by_different_ids_is_caught(tmp_path, monkeypatch):
    store = await _store_with_history(tmp_path, "", "hub")
    try:
        want = await _raw_reach(store)
        # every id hashes alike: the check finds ids that differ under one key and counts the ids
        monkeypatch.setattr(reach, "_hash", lambda words: np.zeros(len(words), dtype=np.uint64))
        assert await store.reach_counts(JAN.timestamp(), FEB.timestamp()) == want
    finally:
        await store.close()


def test_counting_ids_one_per_line():
    rng = np.random.default_rng(1)
    pool = [new_id() for _ in range(500)]
    actions = [sorted(set(rng.choice(pool, int(rng.integers(0, 60))).tolist())) for _ in range(200)]
    values = [None if not a else f"{len(a) * 2} {chr(10).join(p for p in a for _ in (0, 1))}".encode() for a in actions]
    want = dict(Counter(Counter(p for a in actions for p in a).values()))
    assert reach.reach_counts(*reach.split(values)) == want
    # ids of different lengths, within an action or between actions: the caller counts rows
    assert reach.reach_counts(*reach.split([b"2 abc\nabcd"])) is None
    assert reach.reach_counts(*reach.split([b"1 abc", b"1 abcd"])) is None
    assert reach.reach_counts(*reach.split([b"2 abcdefg\nabc", b"1 abcde"])) is None
    # an id reached twice by one action counts once; two actions next to each other count twice
    assert reach.reach_counts(*reach.split([b"3 aa\nbb\nbb", b"2 bb\ncc"])) == {1: 2, 2: 1}
    # an action's ids out of order: copies might lie apart, so the caller counts rows
    assert reach.reach_counts(*reach.split([b"3 bb\naa\nbb"])) is None
    # an id holding a line break
    assert reach.split([b"1 ab\ncd"]) is None
    assert reach.split([]) == ([], []) and reach.reach_counts([], []) == {}


@pytest.mark.parametrize("high_bits", [0, 2, 6, 12])
def test_ids_sharing_the_high_bits_of_their_key_are_counted_apart(monkeypatch, high_bits):
    """The sort groups ids by the high bits of their key: with a key of only a few distinct high bits,
    runs mix ids (some runs, or every run when the key is constant), and those are counted exactly."""
    rng = np.random.default_rng(7)
    # the hub's ids, and ids that differ only after their first 8 bytes (one 64-bit word)
    pool = sorted([new_id() for _ in range(2_000)] + [f"particip{k:08d}" for k in range(1_000)])
    actions = [sorted(set(rng.choice(pool, int(rng.integers(1, 400))).tolist())) for _ in range(150)]
    values = [f"{len(a)} {chr(10).join(a)}".encode() for a in actions]
    want = dict(Counter(Counter(p for a in actions for p in a).values()))
    good = reach._hash

    def weak(words):
        return good(words) >> np.uint64(64 - high_bits) << np.uint64(64 - high_bits) if high_bits else good(words) * np.uint64(0)

    monkeypatch.setattr(reach, "_hash", weak)
    mixed = []
    real_exact = reach._exact
    monkeypatch.setattr(reach, "_exact", lambda words: mixed.append(len(words)) or real_exact(words))
    assert reach.reach_counts(*reach.split(values)) == want
    total = sum(n * c for n, c in want.items())  # (id, action) pairs
    assert mixed and 0 < mixed[0] <= total  # the mixed runs went to the exact count
    if high_bits == 0:
        assert mixed == [total]  # one run, every id in it
    if high_bits == 12:
        assert mixed[0] < total  # most runs held one id


async def test_the_reach_count_reads_the_index_alone(tmp_path):
    """The SQLite plan: the period's actions by time, each action's reached ids from deliveries_reach
    (no sort); the actions with start rows in flight found from deliveries_inflight, only theirs sorted."""
    path = tmp_path / "db.sqlite3"
    store = open_store("", path)
    await store.open()
    await store.close()
    conn = sqlite3.connect(path)
    try:
        plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + evaluation.REACH_IDS["sqlite"].format(ids=""), (0.0, 1.0))]
    finally:
        conn.close()
    assert any("USING COVERING INDEX deliveries_reach" in p or "USING INDEX deliveries_reach" in p for p in plan), plan
    assert any("USING COVERING INDEX deliveries_inflight" in p or "USING INDEX deliveries_inflight" in p for p in plan), plan
    # the one sort is that of the in-flight branch (a correlated subquery over one action's rows)
    assert [p for p in plan if "TEMP B-TREE" in p] == ["USE TEMP B-TREE FOR ORDER BY"], plan
    assert not any(p.startswith("SCAN d") for p in plan), plan
