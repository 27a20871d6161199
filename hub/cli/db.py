"""``burgerhub db``: the database's state, and moving an SQLite installation to PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import click

from ..errors import ConfigError, StoreError
from ..store.pg_ledger import FILL_CLAIM_TABLES
from ..store.postgres import PostgresStore, redacted
from ..store.select import is_postgres, open_store
from .common import config_from, echo_json, run

#: what ``db copy`` moves, table by table, with the columns it copies (ids kept)
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("actions", ("id", "status", "urgency", "version", "data", "created_at", "updated_at")),
    ("participants", ("id", "data", "token_hash", "created_at", "updated_at")),
    ("deliveries", ("id", "action_id", "channel", "kind", "seq", "address", "participant_id", "language",
                    "urgency_rank", "status", "attempts", "next_at", "owner", "lease_until", "provider_id",
                    "reason", "created_at", "updated_at")),
    ("tips", ("id", "action_id", "text", "channel", "participant_id", "sender", "photo", "photo_type", "created_at")),
    ("audit", ("id", "at", "actor", "role", "verb", "subject", "detail")),
    ("records", ("channel", "key", "value")),
    ("outbox", ("id", "delivery_id", "channel", "action_id", "kind", "address", "language", "subject", "text",
                "html", "extra", "created_at")),
    ("photos", ("name", "content_type", "body", "created_at")),
    ("verifications", ("id", "purpose", "participant_id", "target", "secret_hash", "data", "attempts", "created_at",
                       "expires_at")),
    ("rate_hits", ("key", "at")),
    ("participant_sessions", ("token_hash", "participant_id", "created_at", "expires_at")),
    ("participant_caps", ("participant_id", "per_week")),
    ("organisations", ("id", "data", "created_at", "updated_at")),
    ("organisation_tokens", ("id", "organisation", "name", "role", "token_hash", "created_at", "revoked_at")),
    ("cap_messages", ("sender", "identifier", "sent", "action_id", "version", "msg_type", "organisation",
                      "received_at")),
    ("public_policies", ("action_type", "data", "updated_at")),
    # an ended action's kept figures outlive the ledger rows a retention period removes
    ("action_figures", ("action_id", "kept_at", "figures")),
    # the stored rule sets (the one in force is the highest version; the hubs on PostgreSQL use it)
    ("routing_rules", ("version", "text", "sha256", "source", "actor", "role", "loaded_at")),
)
SERIALS = ("deliveries", "tips", "audit", "outbox")
CHUNK = 10_000


def register(cli: click.Group) -> None:
    cli.add_command(db)


@click.group()
def db() -> None:
    """The database: its schema version and the hubs using it; moving to PostgreSQL."""


@db.command("status")
@click.pass_context
def status(ctx) -> None:
    """Show the backend, its schema version and (PostgreSQL) the hub processes running on it."""
    config = config_from(ctx)

    async def go():
        store = open_store(config.database, config.database_path)
        await store.open()
        try:
            out = {"backend": store.backend, "database": redacted(config.database) or str(config.database_path)}
            row = await store._one("SELECT value FROM store_meta WHERE key='schema_version'")
            out["schema_version"] = int(row[0]) if row else 0
            out["participants"] = await store.count_participants()
            out["processes"] = await store.processes()
            return out
        finally:
            await store.close()

    echo_json(run(go()))


@db.command("copy")
@click.option("--from", "source", type=click.Path(dir_okay=False, path_type=Path),
              help="The SQLite database to copy (default: the configured data folder's).")
@click.option("--to", "target", help="The PostgreSQL URL (default: [hub] database or $BURGERHUB_DATABASE).")
@click.pass_context
def copy(ctx, source: Path | None, target: str | None) -> None:
    """Copy an SQLite installation into an empty PostgreSQL database.

    Everything moves: actions, the delivery ledger, participants, tips, audit, channel records, the
    sandbox outbox, photos (also those still in the data folder), the kept evaluation figures, the
    stored routing rules and the signing secret, so links already sent stay valid. Stop the hub first: a hub serving the SQLite database is refused.
    """
    config = config_from(ctx)
    source = source or config.database_path
    target = target or config.database
    if not is_postgres(target or ""):
        raise ConfigError("--to: give a postgresql:// URL (or set [hub] database / BURGERHUB_DATABASE)")
    if not source.exists():
        raise ConfigError(f"--from: {source}: no such SQLite database")
    counts = run(_copy(source, target, config.data_dir))
    for table, n in counts.items():
        click.echo(f"  {table:<13} {n:>10,}")
    click.echo(f"copied {source} to {redacted(target)}; set [hub] database to it and start the hubs")


async def _copy(source: Path, target: str, data_dir: Path) -> dict[str, int]:
    from ..store.sqlite import SQLiteStore

    sqlite_store = SQLiteStore(source)
    await sqlite_store.open()  # brings an older file up to the current schema first
    try:
        sqlite_store.lock_serving()  # refuses while a hub serves it
        pg = PostgresStore(target, min_size=1, max_size=2)
        await pg.open()
        try:
            return await _copy_tables(source, pg, data_dir)
        finally:
            await pg.close()
    finally:
        await sqlite_store.close()


async def _copy_tables(source: Path, pg: PostgresStore, data_dir: Path) -> dict[str, int]:
    pool = pg._p()
    for table in ("actions", "participants", "deliveries"):
        if await pool.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
            raise StoreError(f"{pg!r}: the database already holds {table}; copy into an empty database")
    conn = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    counts: dict[str, int] = {}
    try:
        async with pool.acquire() as pgc, pgc.transaction():
            for table, columns in TABLES:
                cursor = await asyncio.to_thread(conn.execute, f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")
                n = 0
                while rows := await asyncio.to_thread(cursor.fetchmany, CHUNK):
                    await pgc.copy_records_to_table(table, records=[_row(r) for r in rows], columns=list(columns))
                    n += len(rows)
                counts[table] = n
            counts["photos"] += await _copy_photo_files(pgc, data_dir / "photos")
            for statement in FILL_CLAIM_TABLES:  # the queue and the provider ids of the copied ledger
                await pgc.execute(statement)
            for table in SERIALS:
                await pgc.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) FROM {table}"
                )
            secret = data_dir / "secret"
            if secret.exists():
                value = (await asyncio.to_thread(secret.read_bytes)).strip().decode()
                await pgc.execute(
                    "INSERT INTO store_meta (key, value) VALUES ('secret', $1)"
                    " ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                    value,
                )
    finally:
        conn.close()
    return counts


def _row(row: tuple) -> tuple:
    # SQLite keeps whole numbers in REAL columns as integers; PostgreSQL's binary copy takes them as is
    return tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)


async def _copy_photo_files(pgc, folder: Path) -> int:
    if not folder.is_dir():
        return 0
    types = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
    n = 0
    for path in sorted(folder.iterdir()):
        if path.suffix in types and not path.name.startswith("."):
            body = await asyncio.to_thread(path.read_bytes)
            status = await pgc.execute(
                "INSERT INTO photos (name, content_type, body, created_at) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (name) DO NOTHING",
                path.name, types[path.suffix], body, path.stat().st_mtime,
            )
            n += status.endswith(" 1")
    return n
