"""Once-only duties: work that one hub process of a cluster does, and another takes over.

A duty is a name ("sweeps", "channel:matrix_boards", ...). On PostgreSQL each duty is a session
advisory lock held on a connection of this process's own: PostgreSQL releases it the moment the
connection ends, so when the holder dies (``kill -9``, a lost machine: TCP keepalives end its session)
another process takes it at its next try, every :data:`TRY_SECONDS`. While the holder lives, no other
process gets the lock, so nothing is done twice. On the embedded store one process serves the database
and holds every duty.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

log = logging.getLogger("burgerhub.duties")

TRY_SECONDS = 2.0


def _key(name: str) -> int:
    """A stable 63-bit lock key for a duty's name."""
    return int.from_bytes(hashlib.sha256(f"burgerhub:duty:{name}".encode()).digest()[:8], "big") >> 1


class Duties:
    """Which duties this process holds. ``holds(name)`` is cheap (no database round trip)."""

    def __init__(self, dsn: str | None = None):
        self.dsn = dsn
        self._wanted: set[str] = set()
        self._held: set[str] = set()
        self._conn = None
        self._task: asyncio.Task | None = None
        self._tried = asyncio.Event()

    @property
    def shared(self) -> bool:
        return self.dsn is not None

    def want(self, *names: str) -> None:
        self._wanted.update(names)

    def holds(self, name: str) -> bool:
        if not self.shared:
            return True
        return name in self._held and self._conn is not None and not self._conn.is_closed()

    def held(self) -> list[str]:
        return sorted(n for n in self._wanted if self.holds(n))

    async def start(self) -> None:
        if self.shared:
            self._task = asyncio.create_task(self._run(), name="burgerhub-duties")
            # the first round of tries, so a lone process holds its duties when start returns
            await asyncio.wait([asyncio.ensure_future(self._tried.wait()), self._task], timeout=5,
                               return_when=asyncio.FIRST_COMPLETED)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            self._held.clear()
            try:
                await asyncio.wait_for(conn.close(), 5)  # releases every lock it holds
            except Exception:
                conn.terminate()

    async def _run(self) -> None:
        import asyncpg

        while True:
            try:
                if self._conn is None or self._conn.is_closed():
                    self._held.clear()
                    self._conn = await asyncpg.connect(
                        self.dsn, timeout=5,
                        server_settings={
                            "application_name": "burgerhub-duties",
                            # a holder whose machine vanished loses its session (and duties) in ~10 s
                            "tcp_keepalives_idle": "3", "tcp_keepalives_interval": "2",
                            "tcp_keepalives_count": "3",
                        },
                    )
                for name in sorted(self._wanted - self._held):
                    if await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", _key(name)):
                        self._held.add(name)
                        log.info("this process now holds the duty %r", name)
                # the lock is only as good as the session: check it is alive
                await self._conn.fetchval("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if self._held:
                    log.warning("lost the duties %s: %s", sorted(self._held), e)
                self._held.clear()
                if self._conn is not None:
                    self._conn.terminate()
                    self._conn = None
            self._tried.set()
            await asyncio.sleep(TRY_SECONDS)
