"""Reads slices of a long report query from an SQLite file, in a process of its own.

One process reading an SQLite file does not go faster with more threads (the library serialises its
memory accounting), but processes do: a report's longest read (the ids every action reached, see
:mod:`hub.store.reach`) is split over :data:`hub.store.evaluation.REPORT_READERS` of these.

Run as a script, with the standard library only (``python -I -S slice_reader.py``), a request as
JSON on standard input: ``{"path": file, "sql": one statement of one column, "slices": [[arguments],
...]}``. It opens the file read-only and writes, per slice in the order given, one frame to standard
output: the number of values (4 bytes, little-endian), each value's length (8 bytes, signed; -1 for
NULL), then the values' bytes one after another. A failure ends it with status 1 and one line on
standard error naming the error's kind and the slice (never the arguments or a value).
"""

from __future__ import annotations

import json
import sqlite3
import struct
import sys
from pathlib import Path

NULL = -1


def connect(path: str | Path) -> sqlite3.Connection:
    """``path`` opened read-only for a long report read: its pages mapped rather than copied into the
    connection's cache where the library allows (Debian's SQLite maps the first 2 GiB of a file), and a
    cache of 256 MB for the rest. The hub's own report connections open the same way."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA mmap_size=17179869184")
    conn.execute("PRAGMA cache_size=-262144")
    return conn


def frame(values: list) -> bytes:
    """One slice's values as the frame described above."""
    lengths = [NULL if v is None else len(v) for v in values]
    head = struct.pack(f"<I{len(values)}q", len(values), *lengths)
    return b"".join([head, *(bytes(v) for v in values if v is not None)])


def main() -> int:
    request = json.load(sys.stdin)
    out = sys.stdout.buffer
    k = -1
    try:
        conn = connect(request["path"])
        for k, args in enumerate(request["slices"]):
            out.write(frame([v for (v,) in conn.execute(request["sql"], args).fetchall()]))
            out.flush()
    except (sqlite3.Error, OSError, ValueError, KeyError, TypeError) as e:
        where = "opening the database" if k < 0 else f"slice {k}"
        print(f"{type(e).__name__} {where}: {e if isinstance(e, sqlite3.Error) else ''}".rstrip(": "),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
