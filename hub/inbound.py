"""Reading untrusted request bodies: bounded, strict UTF-8, JSON without surprises, forms, multipart.

Every route that reads a body (the API's and the channels' web routes alike) reads it through these
functions, so that no input reaches a handler as an exception the handler did not expect:

* bodies are read up to a limit (:class:`~hub.errors.TooLarge` past it, before the rest is read);
* text must be UTF-8 (:class:`~hub.errors.MalformedInput` naming the byte's position otherwise);
* JSON must be standard JSON: ``NaN`` and ``Infinity`` are refused, and so are numbers too large for a
  float (``1e999``) (they are not JSON, and a stored
  ``NaN`` would make every later answer that holds it unreadable), and nesting is limited to
  :data:`MAX_JSON_DEPTH` levels (a body nested 100,000 deep is refused, not a ``RecursionError``);
* url-encoded forms are parsed with strict UTF-8 and a bounded number of fields;
* a multipart body must declare its boundary; parts are read one at a time, each up to its limit.

The errors are the tree's :class:`~hub.errors.ValidationError` subclasses, which the API's error
middleware answers with the JSON error shape naming the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from .errors import MalformedInput, TooLarge, UnsupportedMedia, ValidationError

BODY = "(root)"  # the whole body, as JSON Schema errors name it
#: the default limit of a JSON body; photos and CSV imports have their own
MAX_JSON_BYTES = 1024 * 1024
#: deeper than any document the hub takes (its deepest, the routing rules, stay under 20)
MAX_JSON_DEPTH = 64
MAX_FORM_FIELDS = 100
_CHUNK = 64 * 1024


async def read_body(request: web.Request, limit: int, *, field: str = BODY) -> bytes:
    """The raw body, refused with :class:`TooLarge` as soon as it passes ``limit`` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise TooLarge(field, f"larger than {limit} bytes")
    chunks, size = [], 0
    try:
        while chunk := await request.content.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise TooLarge(field, f"larger than {limit} bytes")
            chunks.append(chunk)
    except web.HTTPRequestEntityTooLarge as e:
        raise TooLarge(field, f"larger than {limit} bytes") from e
    return b"".join(chunks)


def decode_text(raw: bytes, *, field: str = BODY) -> str:
    """``raw`` as UTF-8 text (a leading byte-order mark is dropped); :class:`MalformedInput` otherwise."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise MalformedInput(field, f"is not valid UTF-8 (byte 0x{raw[e.start]:02x} at position {e.start})") from e


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large a number")
    return value


def parse_json(raw: bytes | str, *, field: str = BODY, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Standard JSON from ``raw``, at most ``max_depth`` levels deep; :class:`MalformedInput` otherwise."""
    text = decode_text(raw, field=field) if isinstance(raw, (bytes, bytearray)) else raw
    try:
        data = json.loads(text, parse_constant=_no_constants, parse_float=_finite)
    except RecursionError as e:
        raise MalformedInput(field, f"is nested more than {max_depth} levels deep") from e
    except ValueError as e:  # JSONDecodeError, and NaN / Infinity
        error = MalformedInput(field, f"is not valid JSON: {e}")
        error.code = "invalid_json"
        raise error from e
    if depth_exceeds(data, max_depth):
        raise MalformedInput(field, f"is nested more than {max_depth} levels deep")
    return data


def depth_exceeds(data: Any, max_depth: int) -> bool:
    """Whether ``data`` (parsed JSON) nests more than ``max_depth`` containers; iterative, no recursion."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


async def read_json(request: web.Request, *, limit: int = MAX_JSON_BYTES, media_types: tuple[str, ...] = ("application/json", "")) -> Any:
    """The request's JSON body (any JSON value; see :func:`read_json_object`)."""
    if request.content_type not in media_types:
        raise UnsupportedMedia("Content-Type", f"send {media_types[0]}, not {request.content_type!r}")
    raw = await read_body(request, limit)
    if not raw.strip():
        raise MalformedInput(BODY, "is empty: send a JSON document")
    return parse_json(raw)


async def read_json_object(request: web.Request, *, limit: int = MAX_JSON_BYTES) -> dict:
    """The request's JSON body, which must be an object (every API route's body is one)."""
    data = await read_json(request, limit=limit)
    if not isinstance(data, dict):
        raise ValidationError(BODY, "the request body must be a JSON object")
    return data


def form_params(raw: bytes, content_type: str, *, field: str = BODY) -> list[tuple[str, str]]:
    """The fields of an ``application/x-www-form-urlencoded`` body, in order; ``[]`` for any other type.

    Names and values must be UTF-8 once percent-decoded; at most :data:`MAX_FORM_FIELDS` fields.
    """
    if content_type != "application/x-www-form-urlencoded":
        return []
    text = decode_text(raw, field=field)
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False, encoding="utf-8", errors="strict",
                         max_num_fields=MAX_FORM_FIELDS)
    except UnicodeDecodeError as e:
        raise MalformedInput(field, "a percent-encoded field is not valid UTF-8") from e
    except ValueError as e:
        raise MalformedInput(field, str(e)) from e


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a multipart body: its bytes and the type it declared."""

    data: bytes
    content_type: str
    filename: str | None = None

    def text(self, field: str) -> str:
        return decode_text(self.data, field=field)


async def read_multipart(request: web.Request, limits: Mapping[str, int]) -> dict[str, Part]:
    """The parts of a ``multipart/form-data`` body named in ``limits``, each read up to its limit.

    Refused: a body without a boundary, a part with another name (``MalformedInput`` naming it), a
    part past its limit (``TooLarge``), a body that breaks the multipart format.
    """
    if not request.content_type.startswith("multipart/"):
        raise UnsupportedMedia("Content-Type", f"send multipart/form-data, not {request.content_type!r}")
    if not _boundary(request):
        raise MalformedInput("Content-Type", "multipart without a boundary")
    parts: dict[str, Part] = {}
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            name = getattr(part, "name", None)
            if not isinstance(part, BodyPartReader) or name not in limits:
                raise MalformedInput(str(name or "(part)"), f"is not a field here (fields: {', '.join(limits)})")
            if name in parts:
                raise MalformedInput(name, "is sent twice")
            chunks, size = [], 0
            while chunk := await part.read_chunk(_CHUNK):
                size += len(chunk)
                if size > limits[name]:
                    raise TooLarge(name, f"larger than {limits[name]} bytes")
                chunks.append(chunk)
            ctype = part.headers.get("Content-Type", "application/octet-stream")
            parts[name] = Part(b"".join(chunks), ctype.split(";", 1)[0].strip().lower(), part.filename)
    except (ValueError, AssertionError, RuntimeError, KeyError, HttpProcessingError) as e:
        # aiohttp's reader raises these for a body that breaks the format (no boundary line, bad headers)
        raise MalformedInput(BODY, f"is not a valid multipart body ({type(e).__name__})") from e
    return parts


def _boundary(request: web.Request) -> str | None:
    value = request.headers.get("Content-Type", "")
    for item in value.split(";")[1:]:
        key, _, val = item.partition("=")
        if key.strip().lower() == "boundary" and val.strip().strip('"'):
            return val.strip().strip('"')
    return None

