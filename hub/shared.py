"""Values every hub process of a cluster shares, kept in the shared database's ``store_meta``.

Read while a hub (or a command) is being built, before its event loop runs anything of its own: on a
thread with a short-lived connection of its own, so the caller may or may not have a loop running.
The first process to ask stores its proposal; every process gets the stored value.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Mapping

from .errors import ConfigError


def shared_values(database: str, proposals: Mapping[str, str]) -> dict[str, str]:
    """``{key: value}`` for each key of ``proposals``, stored once for the whole cluster."""

    async def fetch() -> dict[str, str]:
        import asyncpg

        conn = await asyncpg.connect(database, timeout=10)
        try:
            await conn.execute("CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            out = {}
            for key, value in proposals.items():
                await conn.execute(
                    "INSERT INTO store_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", key, value
                )
                out[key] = await conn.fetchval("SELECT value FROM store_meta WHERE key=$1", key)
            return out
        finally:
            await conn.close()

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(fetch())
        except Exception as e:  # reported below, on the caller's thread
            box["error"] = e

    thread = threading.Thread(target=run, name="burgerhub-shared-values")
    thread.start()
    thread.join()
    if "error" in box:
        from .store.postgres import redacted

        e = box["error"]
        raise ConfigError(f"hub.database: cannot read shared values from {redacted(database)}: {e}") from e
    return box["value"]
