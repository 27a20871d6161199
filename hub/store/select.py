"""Which store a configuration asks for: PostgreSQL for a ``postgresql://`` URL, else SQLite."""

from __future__ import annotations

from pathlib import Path

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def open_store(database: str, sqlite_path: Path):
    """A store (not yet opened) for the configured ``database`` URL."""
    if is_postgres(database):
        from .postgres import PostgresStore

        return PostgresStore(database)
    from .sqlite import SQLiteStore

    return SQLiteStore(sqlite_path)
