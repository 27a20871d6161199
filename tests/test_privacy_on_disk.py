"""Erasure holds on disk: once it returns, the person's phone number, e-mail address and postcode are
in none of the files the hub keeps (SQLite: the database file and its write-ahead log; the audience
index snapshot), found by searching the raw bytes. On PostgreSQL the rows are gone and the tables
vacuumed (see the README: the server's WAL and backups are the server's)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

import plugins.email
import plugins.sms
from hub import snapshot
from hub.testing import BACKENDS

from conftest import DISPATCHER, UTRECHT, person, start_payload

PHONE, EMAIL, POSTCODE = "+31687654321", "geheim.persoon@example.nl", "3581XK"


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


def the_person() -> dict:
    p = person("secret-1", *UTRECHT, phone=PHONE, channels=("sms", "email"), email=EMAIL)
    p["addresses"][0]["postcode"] = POSTCODE
    return p


def needles(text: str) -> list[bytes]:
    """The ways the value can be stored: as is, and in JSON with escapes (``\\u0040`` is not used)."""
    return [text.encode(), text.lower().encode()]


def found_in(path, values) -> list[str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return [v for v in values if any(n in data for n in needles(v))]


async def _files_hold(hub) -> dict[str, list[str]]:
    db = hub.store.path
    files = [db, db.with_name(db.name + "-wal"), snapshot.path_for(db)]
    return {f.name: found_in(f, (PHONE, EMAIL, POSTCODE)) for f in files}


async def _until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return await predicate()


async def test_erased_data_is_off_the_disk_within_seconds(make_hub, tmp_path, database_url):
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nchannels: [sms, email]\n")
    config = {"hub": {"routes": str(routes)}}
    async with make_hub(plugins=[plugins.sms, plugins.email], config=config) as hub:
        reg = hub.registry
        reg.erase_save_delay = 0.05
        # others around them, so their rows share pages with rows that stay
        others = [person(f"o{i}", UTRECHT[0] + i * 1e-4, UTRECHT[1], channels=("sms", "email"),
                         email=f"ander{i}@example.nl") for i in range(300)]
        await reg.import_rows(others[:150] + [the_person()] + others[150:])
        action = await hub.actions.start(start_payload(), DISPATCHER)
        assert await hub.engine.drain(20)
        await hub.store.add_tip({"action_id": action["id"], "text": "Ik zag hem bij de brug.",
                                 "channel": "sms", "participant_id": "secret-1", "sender": PHONE})
        if not database_url:
            await reg.save_snapshot()
            held = await _files_hold(hub)
            # the test can fail: before the erasure every value is on disk somewhere
            assert set(sum(held.values(), [])) == {PHONE, EMAIL, POSTCODE}, held

        t0 = time.monotonic()
        if database_url:
            since = await _server_now(database_url)
        await reg.erase("secret-1", actor="op", role="operator")
        if database_url:
            await _postgres_holds_nothing(database_url, since)
            return
        # the database file and its log at once: the erasure returns after the truncating checkpoint
        held = await _files_hold(hub)
        db = hub.store.path
        assert held[db.name] == [] and held[db.name + "-wal"] == [], held
        # the snapshot is rewritten without them within the bound (delay plus one save)
        assert await _until(lambda: _no_snapshot_copy(hub), 10), await _files_hold(hub)
        assert time.monotonic() - t0 < 10
        # the others are still there: nothing was thrown away wholesale
        assert b"ander7@example.nl" in db.read_bytes() + db.with_name(db.name + "-wal").read_bytes()


async def _no_snapshot_copy(hub) -> bool:
    return (await _files_hold(hub))[snapshot.path_for(hub.store.path).name] == []


async def _server_now(dsn: str):
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT now()")
    finally:
        await conn.close()


async def _postgres_holds_nothing(dsn: str, since) -> None:
    """Every table's rows, as text: none holds the person's data any more."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = [r[0] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        for table in tables:
            text = "\n".join(str(tuple(r)) for r in await conn.fetch(f'SELECT * FROM "{table}"'))
            for value in (PHONE, EMAIL, POSTCODE):
                assert value not in text and value.lower() not in text, (table, value)
        # dead row versions are pruned: the vacuum the erasure starts has run on the tables it touched
        async def vacuumed() -> bool:
            await conn.execute("SELECT pg_stat_clear_snapshot()")
            done = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_user_tables WHERE last_vacuum >= $1"
                " AND relname IN ('participants', 'deliveries', 'outbox', 'tips')", since)
            return done == 4
        assert await _until(vacuumed, 10)
    finally:
        await conn.close()
