"""Schema versions of both backends, applied in order when a store opens.

Each backend has a folder of numbered SQL files (``001_base.sql``, ``002_...``); the version a
database is at is ``schema_version`` in its ``store_meta`` table. A store applies the files after that
version, in one transaction per file, and refuses a database at a version newer than the newest file
it ships (a newer burgerhub wrote it: running an older one against it could lose data).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from ...errors import SchemaTooNew


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(backend: str) -> list[Migration]:
    """The migrations of ``backend`` ("sqlite" or "postgres"), oldest first."""
    folder = resources.files(__name__).joinpath(backend)
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            out.append(Migration(int(name[:3]), name, entry.read_text(encoding="utf-8")))
    out.sort(key=lambda m: m.version)
    return out


def latest(backend: str) -> int:
    found = migrations(backend)
    return found[-1].version if found else 0


def check_not_newer(backend: str, current: int, where: str) -> None:
    """Raise :class:`SchemaTooNew` when ``current`` is beyond what this burgerhub knows."""
    known = latest(backend)
    if current > known:
        raise SchemaTooNew(
            f"{where}: the database's schema is at version {current}, newer than this burgerhub knows"
            f" (version {known}); it was written by a newer burgerhub. Upgrade burgerhub on this machine;"
            " nothing was changed"
        )


def pending(backend: str, current: int) -> list[Migration]:
    return [m for m in migrations(backend) if m.version > current]
