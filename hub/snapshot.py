"""Snapshots of the audience index on disk, so that a restart does not rebuild it from the store.

One file next to the database (``burgerhub.sqlite3.audience``): a magic line, the length of a JSON
header, the header, then the raw bytes of each numpy array aligned to 64 bytes. The header holds the
:class:`~hub.store.ParticipantsVersion` the index reflects (database id and participants generation),
the index's small tables (profiles, availability windows, time zones, languages) and where each array
lies. Loading reads each array with one ``np.fromfile`` call: a few hundred megabytes for a national
index, well under a second from the page cache.

Files are written to a temporary name, flushed to disk and renamed into place, so a reader sees the
old snapshot or the new one, never half of one. A snapshot of another database, or of a later state
than the store's, is not used; one behind the store is brought up to date by replaying the changes
since (see :mod:`hub.registry`).

The arrays are read into memory rather than mapped: a mapped file outlives its deletion or replacement
for as long as the mapping exists, and erasing a participant must take their data off the disk within
a short bound (the registry rewrites the snapshot without them right after an erasure).
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import HubError
from .store import ParticipantsVersion

MAGIC = b"burgerhub-audience-snapshot\n"
FORMAT = 1
_ALIGN = 64


class SnapshotError(HubError):
    """A snapshot file exists but cannot be used (truncated, corrupt, or of another format)."""


@dataclass(frozen=True)
class Snapshot:
    version: ParticipantsVersion
    meta: Mapping[str, Any]
    arrays: Mapping[str, np.ndarray]


def path_for(database: str | Path) -> Path | None:
    """Where the snapshot of a database's audience index lives (``None`` for an in-memory database)."""
    if str(database) == ":memory:":
        return None
    database = Path(database)
    return database.with_name(database.name + ".audience")


def _pad(n: int) -> int:
    return (-n) % _ALIGN


def write(path: Path, version: ParticipantsVersion, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> int:
    """Write a snapshot atomically; returns its size in bytes. Blocking: run it in a thread."""
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = []
    offset = 0
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        layout.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "offset": offset})
        offset += a.nbytes + _pad(a.nbytes)
    header = json.dumps(
        {
            "format": FORMAT,
            "version": {"database_id": version.database_id, "generation": version.generation},
            "meta": meta,
            "arrays": layout,
            "data_bytes": offset,
        },
        separators=(",", ":"),
    ).encode()
    start = len(MAGIC) + 8 + len(header)
    start += _pad(start)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC)
            f.write(struct.pack("<Q", len(header)))
            f.write(header)
            f.write(b"\0" * (start - f.tell()))
            for a in arrays.values():
                a = np.ascontiguousarray(a)
                f.write(memoryview(a).cast("B"))
                f.write(b"\0" * _pad(a.nbytes))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        pass
    else:
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return start + offset


@dataclass(frozen=True)
class Info:
    """What a snapshot's header tells: the version it holds and how many participants."""

    version: ParticipantsVersion
    participants: int


def read_info(path: Path) -> Info | None:
    """The version and size of a snapshot, reading only its header; ``None`` without a snapshot."""
    try:
        with open(path, "rb") as f:
            header, _ = _header(f, path)
    except FileNotFoundError:
        return None
    v = header["version"]
    shapes = {entry["name"]: entry["shape"] for entry in header["arrays"]}
    participants = int(shapes["prof"][0]) if shapes.get("prof") else 0
    return Info(ParticipantsVersion(str(v["database_id"]), int(v["generation"])), participants)


def read_version(path: Path) -> ParticipantsVersion | None:
    """The version a snapshot holds, reading only its header; ``None`` without a snapshot."""
    info = read_info(path)
    return None if info is None else info.version


def _header(f, path: Path) -> tuple[dict[str, Any], int]:
    if f.read(len(MAGIC)) != MAGIC:
        raise SnapshotError(f"{path}: not an audience snapshot")
    raw = f.read(8)
    if len(raw) != 8:
        raise SnapshotError(f"{path}: truncated")
    (length,) = struct.unpack("<Q", raw)
    try:
        header = json.loads(f.read(length))
    except ValueError as e:
        raise SnapshotError(f"{path}: unreadable header") from e
    if header.get("format") != FORMAT:
        raise SnapshotError(f"{path}: format {header.get('format')!r}, expected {FORMAT}")
    start = len(MAGIC) + 8 + length
    return header, start + _pad(start)


def read(path: Path) -> Snapshot | None:
    """The snapshot at ``path`` (arrays in memory, writable), ``None`` when there is none.

    Raises :class:`SnapshotError` when the file is damaged. Blocking: run it in a thread.
    """
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None
    with f:
        header, start = _header(f, path)
        size = os.fstat(f.fileno()).st_size
        if size != start + int(header["data_bytes"]):
            raise SnapshotError(f"{path}: {size} bytes, expected {start + int(header['data_bytes'])}")
        arrays: dict[str, np.ndarray] = {}
        for entry in header["arrays"]:
            dtype = np.dtype(entry["dtype"])
            shape = tuple(entry["shape"])
            count = int(np.prod(shape)) if shape else 1
            f.seek(start + int(entry["offset"]))
            a = np.fromfile(f, dtype=dtype, count=count)
            if len(a) != count:
                raise SnapshotError(f"{path}: array {entry['name']!r} is truncated")
            arrays[entry["name"]] = a.reshape(shape)
    v = header["version"]
    return Snapshot(ParticipantsVersion(str(v["database_id"]), int(v["generation"])), header["meta"], arrays)


def remove(path: Path | None) -> bool:
    """Delete a snapshot (and any half-written one left by a crash); ``True`` if one was there."""
    if path is None:
        return False
    for stale in path.parent.glob(f"{path.name}.tmp-*"):
        stale.unlink(missing_ok=True)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
