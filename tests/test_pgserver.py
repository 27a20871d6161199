"""The throwaway PostgreSQL server (hub.store.pgserver): start, databases, a driver round trip, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hub.store.pgserver import STANDARD_PORT, PostgresError, PostgresNotFound, PrivatePostgres, find_bindir

ROOT = Path(__file__).resolve().parents[1]

try:
    find_bindir()
    MISSING = ""
except PostgresNotFound as e:
    MISSING = str(e)

needs_postgres = pytest.mark.skipif(bool(MISSING), reason=f"PostgreSQL server programs missing: {MISSING}")


@pytest.fixture(scope="module")
def pg():
    if MISSING:
        pytest.skip(f"PostgreSQL server programs missing: {MISSING}")
    with PrivatePostgres() as server:
        yield server


def test_not_found_names_the_package(tmp_path):
    with pytest.raises(PostgresNotFound, match="does not hold initdb"):
        find_bindir(tmp_path)


def test_refuses_the_standard_port():
    with pytest.raises(ValueError, match="standard port"):
        PrivatePostgres(port=STANDARD_PORT)


@needs_postgres
async def test_start_create_connect_stop():
    asyncpg = pytest.importorskip("asyncpg")
    pg = PrivatePostgres()
    with pg:
        folder = pg.folder
        assert folder is not None and folder.is_dir()
        assert pg.port != STANDARD_PORT
        dsn = pg.create_database("trial")
        assert dsn == f"postgresql://postgres@127.0.0.1:{pg.port}/trial"
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT current_database()") == "trial"
            await conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, note text)")
            await conn.executemany("INSERT INTO t VALUES ($1, $2)", [(1, "één"), (2, None)])
            assert await conn.fetch("SELECT id, note FROM t ORDER BY id") == [(1, "één"), (2, None)]
            assert await conn.fetchval("SHOW fsync") == "off"
            assert await conn.fetchval("SHOW server_encoding") == "UTF8"
            assert await conn.fetchval("SELECT inet_server_addr()::text") == "127.0.0.1/32"
        finally:
            await conn.close()
    assert not pg.running
    assert not folder.exists()
    pg.stop()  # twice is fine


@needs_postgres
def test_stop_when_the_object_is_forgotten():
    pg = PrivatePostgres(start=True)
    folder = pg.folder
    del pg
    import gc

    gc.collect()
    assert not folder.exists()


def test_databases_and_errors(pg):
    pg.create_database("copy_source")
    pg.execute("CREATE TABLE marker (x int); INSERT INTO marker VALUES (7)", "copy_source")
    pg.create_database("copy", template="copy_source")
    assert pg.execute("SELECT x FROM marker", "copy") == [("7",)]
    assert pg.execute("SELECT NULL::text, 'a''b'") == [(None, "a'b")]
    with pytest.raises(PostgresError, match="already exists") as info:
        pg.create_database("copy")
    assert info.value.sqlstate == "42P04"
    pg.drop_database("copy")
    pg.drop_database("copy")  # if exists
    with pytest.raises(PostgresError, match="does not exist"):
        pg.execute("SELECT 1", "copy")


def test_socket_and_settings(pg):
    assert (pg.socket_dir / f".s.PGSQL.{pg.port}").exists()
    rows = dict(pg.execute("SELECT name, setting FROM pg_settings WHERE name IN "
                           "('listen_addresses', 'synchronous_commit', 'full_page_writes', 'max_connections')"))
    assert rows == {"listen_addresses": "127.0.0.1", "synchronous_commit": "off", "full_page_writes": "off",
                    "max_connections": "200"}
    # as root the server runs as an unprivileged user (PostgreSQL refuses root)
    owner = pg.datadir.stat().st_uid
    assert owner != 0 or os.geteuid() != 0


@needs_postgres
def test_command_line_prints_the_dsn_and_cleans_up_on_ctrl_c():
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.store.pgserver", "-d", "hubs"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("postgresql://postgres@127.0.0.1:") and line.endswith("/hubs"), proc.stderr.read()
        info = proc.stderr.readline()
        folder = Path(info.split(" in ", 1)[1].split(" (", 1)[0])
        assert folder.is_dir()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert not folder.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
