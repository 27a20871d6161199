"""The one check every incoming photo passes: the API's uploads, tips' photos from the API, the app,
e-mail replies and messages.

The type is read from the bytes (JPEG, PNG, WebP, GIF, HEIC), never taken from a header: a file
declared ``image/png`` that holds a script, or ``image/jpeg`` holding HTML, is refused, as is one whose
bytes are a known image of another type than the one declared. The width and height are read from the
image's header and bounded (a tiny file can declare a picture of a billion pixels, which a viewer
would try to decode), and so is the size in bytes.

    info = check_photo(data, declared="image/png", max_bytes=5_000_000)   # PhotoInfo(type, width, height)

Failures are :class:`~hub.errors.ValidationError` subclasses naming the field (``photo`` by default):
:class:`~hub.errors.TooLarge` for bytes or pixels past the limits, :class:`~hub.errors.UnsupportedMedia`
for anything that is not one of the allowed image types or not what it was declared to be.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import TooLarge, UnsupportedMedia, ValidationError

JPEG, PNG, WEBP, GIF, HEIC = "image/jpeg", "image/png", "image/webp", "image/gif", "image/heic"
#: every type the hub recognises
ALL_TYPES = (JPEG, PNG, WEBP, GIF, HEIC)
#: the types browsers show, for photos the hub serves to the public
WEB_TYPES = (JPEG, PNG, WEBP)
EXTENSIONS = {JPEG: ".jpg", PNG: ".png", WEBP: ".webp", GIF: ".gif", HEIC: ".heic"}
MAX_SIDE = 12_000
MAX_PIXELS = 50_000_000
_ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG, "image/heif": HEIC, "image/x-png": PNG}
_UNDECLARED = ("", "application/octet-stream", "binary/octet-stream")
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


@dataclass(frozen=True, slots=True)
class PhotoInfo:
    type: str
    width: int | None
    height: int | None

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.type]


def sniff(data: bytes) -> str | None:
    """The image type of ``data`` from its first bytes, or ``None`` for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return HEIC
    return None


def check_photo(
    data: bytes,
    *,
    declared: str | None = None,
    max_bytes: int,
    allowed: tuple[str, ...] = ALL_TYPES,
    field: str = "photo",
) -> PhotoInfo:
    """Check ``data`` as a photo; return its type and dimensions or raise naming ``field``."""
    if not data:
        raise ValidationError(field, "is empty")
    if len(data) > max_bytes:
        raise TooLarge(field, f"larger than {max_bytes} bytes")
    kind = sniff(data)
    names = ", ".join(t.split("/")[1].upper() for t in allowed)
    if kind is None or kind not in allowed:
        raise UnsupportedMedia(field, f"is not a {names} image")
    declared_type = _ALIASES.get((declared or "").lower(), (declared or "").lower())
    if declared_type not in _UNDECLARED and declared_type != kind:
        raise UnsupportedMedia(field, f"declared {declared!r} but the bytes are {kind}")
    try:
        width, height = _dimensions(kind, data)
    except (struct.error, IndexError, ValueError):
        width = height = None
    if width is not None and height is not None:
        if width <= 0 or height <= 0:
            raise UnsupportedMedia(field, f"is a {kind} without a picture ({width}x{height})")
        if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
            raise TooLarge(field, f"{width}x{height} pixels is larger than {MAX_SIDE} per side or {MAX_PIXELS} in all")
    elif kind in (JPEG, PNG, GIF):
        raise UnsupportedMedia(field, f"is a damaged {kind}: its size cannot be read")
    return PhotoInfo(kind, width, height)


def _dimensions(kind: str, data: bytes) -> tuple[int | None, int | None]:
    if kind == PNG:
        return struct.unpack(">II", data[16:24])
    if kind == GIF:
        return struct.unpack("<HH", data[6:10])
    if kind == JPEG:
        return _jpeg_size(data)
    if kind == WEBP:
        return _webp_size(data)
    return _heif_size(data)


def _jpeg_size(data: bytes) -> tuple[int | None, int | None]:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xFF, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        if marker == 0xDA or length < 2:  # the image data starts before any frame header: damaged
            break
        i += 2 + length
    return None, None


def _webp_size(data: bytes) -> tuple[int | None, int | None]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None, None


def _heif_size(data: bytes) -> tuple[int | None, int | None]:
    at = data.find(b"ispe", 0, 64 * 1024)
    if at < 0 or len(data) < at + 16:
        return None, None
    return struct.unpack(">II", data[at + 8 : at + 16])
