"""Shared by the console tests: a hub with the console served on a free loopback port, and a photo."""

from __future__ import annotations

import contextlib
import struct
import zlib
from typing import AsyncIterator

from aiohttp import web

from hub.api import create_app
from hub.console import install
from hub.testing import RecordingPlugin

from conftest import UTRECHT, person

DISPATCHER_TOKEN = "dispatcher-token-0123456789"
OPERATOR_TOKEN = "operator-token-01234567890"
TOKENS = [
    {"name": "meldkamer", "role": "dispatcher", "token": DISPATCHER_TOKEN},
    {"name": "beheer", "role": "operator", "token": OPERATOR_TOKEN},
]
PARTICIPANTS = 12


def hub_config(routes_file: str, **extra) -> dict:
    """Every action goes to the recording channel, which has credentials (so it really delivers)."""
    return {
        "hub": {"routes": routes_file, "network_name": "Burgernet"},
        "api": {"tokens": TOKENS},
        "channels": {"recording": {"token": "x"}},
        **extra,
    }


async def add_participants(hub, n: int = PARTICIPANTS) -> None:
    """``n`` participants within a few hundred metres of Utrecht Centraal."""
    for i in range(n):
        await hub.registry.register(person(f"p{i:02d}", UTRECHT[0] + (i % 4) * 0.001, UTRECHT[1] + (i // 4) * 0.001))


@contextlib.asynccontextmanager
async def serve(hub, **console) -> AsyncIterator[str]:
    """The hub's web app with the console on 127.0.0.1 and a free port; yields the base URL."""
    install(hub, **console)
    runner = web.AppRunner(create_app(hub, manage_hub=False), shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def png(width: int = 160, height: int = 120) -> bytes:
    """A small real PNG: a figure in a red coat on a grey ground, enough to see in a thumbnail."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            dx, head = x - width // 2, (x - width // 2) ** 2 + (y - 28) ** 2 < 14**2
            coat = abs(dx) < 22 and 44 <= y < 92
            legs = (6 < abs(dx) < 18) and 92 <= y < 116
            if head:
                row += bytes((236, 200, 170))
            elif coat:
                row += bytes((200, 30, 40))
            elif legs:
                row += bytes((40, 60, 140))
            else:
                row += bytes((70 + y // 4, 80 + y // 4, 90 + y // 4))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")
