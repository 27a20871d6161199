"""One serving hub per embedded database: an advisory file lock that names its holder.

SQLite serves one machine; two ``burgerhub serve`` processes on one database file would each keep
their own audience index and deliver from their own engine, and could diverge without a word. The
first takes an exclusive ``flock`` on ``<database>.serving`` and writes who it is there (host, process
id, start time); a second is refused with a message naming the first. The kernel drops the lock when
its process ends, however it ends, so a crashed hub never blocks the next start.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from ..errors import StoreInUse


class ServingLock:
    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self, database: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            holder = _describe(self.path)
            os.close(fd)
            raise StoreInUse(
                f"{database}: already served by {holder}. One hub process serves an SQLite database; run"
                " several hubs on PostgreSQL ([hub] database = \"postgresql://...\") or stop the other one"
            ) from e
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({
            "host": socket.gethostname(), "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


def _describe(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return f"process {info.get('pid')} on {info.get('host')} (since {info.get('started')})"
