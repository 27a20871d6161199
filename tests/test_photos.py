"""The one photo check: types from the bytes, sizes from the headers, declared types held to the bytes."""

from __future__ import annotations

import struct

import pytest

from hub.errors import TooLarge, UnsupportedMedia, ValidationError
from hub.photos import WEB_TYPES, check_photo, sniff
from hub.testing import tiny_image

MB = 1024 * 1024


def webp_lossy(width: int, height: int) -> bytes:
    frame = b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
    body = b"VP8 " + struct.pack("<I", 10) + b"\x00\x00\x00" + frame
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def webp_lossless(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    body = b"VP8L" + struct.pack("<I", 5) + b"\x2f" + struct.pack("<I", bits)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def heic(width: int, height: int) -> bytes:
    ftyp = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic"
    ispe = struct.pack(">I", 20) + b"ispe" + b"\x00\x00\x00\x00" + struct.pack(">II", width, height)
    return ftyp + ispe


@pytest.mark.parametrize("data, kind, size", [
    (tiny_image("image/jpeg", 640, 480), "image/jpeg", (640, 480)),
    (tiny_image("image/png", 3, 7), "image/png", (3, 7)),
    (tiny_image("image/webp", 1200, 900), "image/webp", (1200, 900)),
    (tiny_image("image/gif", 16, 9), "image/gif", (16, 9)),
    (webp_lossy(320, 200), "image/webp", (320, 200)),
    (webp_lossless(1000, 3000), "image/webp", (1000, 3000)),
    (heic(4032, 3024), "image/heic", (4032, 3024)),
])
def test_types_and_sizes_come_from_the_bytes(data, kind, size):
    assert sniff(data) == kind
    info = check_photo(data, max_bytes=MB)
    assert (info.type, (info.width, info.height)) == (kind, size)
    assert check_photo(data, declared=kind, max_bytes=MB).type == kind
    assert check_photo(data, declared="application/octet-stream", max_bytes=MB).type == kind


@pytest.mark.parametrize("data, declared, error, words", [
    (b"<html><script>alert(1)</script>", "image/jpeg", UnsupportedMedia, "is not a"),
    (b"#!/bin/sh\nrm -rf ~\n", "image/png", UnsupportedMedia, "is not a"),
    (b"MZ\x90\x00" * 16, None, UnsupportedMedia, "is not a"),
    (tiny_image("image/jpeg"), "image/png", UnsupportedMedia, "declared"),
    (tiny_image("image/png", 20_000, 10), None, TooLarge, "pixels"),
    (tiny_image("image/jpeg", 10_000, 10_000), None, TooLarge, "pixels"),
    (heic(60_000, 2), None, TooLarge, "pixels"),
    (tiny_image("image/png", 0, 5), None, UnsupportedMedia, "without a picture"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 64, None, UnsupportedMedia, "damaged"),
    (b"\x89PNG\r\n\x1a\n", None, UnsupportedMedia, "damaged"),
    (b"", None, ValidationError, "empty"),
    (tiny_image("image/png") + b"\x00" * MB, None, TooLarge, "bytes"),
])
def test_what_is_not_a_photo_or_not_what_it_says_is_refused(data, declared, error, words):
    with pytest.raises(error) as refused:
        check_photo(data, declared=declared, max_bytes=MB, field="photo")
    assert refused.value.field == "photo" and words in refused.value.reason


def test_public_photos_are_web_types_only():
    for kind in ("image/gif",):
        with pytest.raises(UnsupportedMedia):
            check_photo(tiny_image(kind), max_bytes=MB, allowed=WEB_TYPES)
    with pytest.raises(UnsupportedMedia):
        check_photo(heic(10, 10), max_bytes=MB, allowed=WEB_TYPES)
