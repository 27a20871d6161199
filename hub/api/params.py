"""Integers from paths and query strings, bounded so that no value reaches the store it cannot hold."""

from __future__ import annotations

from aiohttp import web

from ..errors import NotFound, ValidationError

#: the largest id a store column holds (SQLite INTEGER and PostgreSQL BIGINT are 64-bit signed)
MAX_ID = 2**63 - 1


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """The query parameter ``name`` as an integer in ``lo..hi``; ``default`` when it is absent."""
    raw = request.query.get(name)
    if raw is None:
        return default
    value = _parse(raw, name)
    if not lo <= value <= hi:
        raise ValidationError(name, f"must be between {lo} and {hi}")
    return value


def path_id(request: web.Request, name: str) -> int:
    """The path segment ``name`` as a stored id: an integer in 1..2^63-1, else not found."""
    raw = request.match_info[name]
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and 1 <= int(text) <= MAX_ID):
        raise NotFound(f"no {name} {raw[:30]!r}")
    return int(text)


def _parse(raw: str, name: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 20:
        raise ValidationError(name, "must be an integer")
    return int(text)
