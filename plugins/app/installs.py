"""App installs and their grid cells, kept in the channel's record store.

Layout of the keys (the record store only knows get/put/delete/scan by prefix)::

    install:<id>          {"endpoint", "keys": {"p256dh", "auth"}, "regions": [...], "language", "updated_at"}
    cell:<cell>:<id>      {"language"}        one index entry per subscribed cell

``<id>`` is derived from the push endpoint with the hub's secret, so subscribing again with the same
endpoint updates the same install. It is what the ledger stores as the recipient's address; it is not
enough to unsubscribe (that takes the endpoint, which only the device knows).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, Iterable

from hub.channel import RecordStore

from .push import b64url
from .regions import parse_cell

#: above this many covering cells one pass over all installs is cheaper than one scan per cell
CELL_SCAN_LIMIT = 256


def _install_key(install_id: str) -> str:
    return f"install:{install_id}"


def _cell_key(cell: str, install_id: str) -> str:
    return f"cell:{cell}:{install_id}"


class Installs:
    def __init__(self, records: RecordStore, secret: bytes):
        self.records = records
        self._secret = secret

    def install_id(self, endpoint: str) -> str:
        digest = hmac.new(self._secret, b"app-install\x00" + endpoint.encode(), hashlib.sha256).digest()
        return b64url(digest[:16])

    async def get(self, install_id: str) -> dict[str, Any] | None:
        return await self.records.get(_install_key(install_id))

    async def save(
        self, endpoint: str, keys: dict[str, str], regions: Iterable[str], language: str,
        participant_id: str | None = None,
    ) -> tuple[str, bool]:
        """Store or update an install; returns its id and whether it is new. ``participant_id``: the
        participant who linked it to themself (for "the app first, then SMS")."""
        install_id = self.install_id(endpoint)
        old = await self.get(install_id)
        regions = sorted(set(regions))
        record = {
            "endpoint": endpoint,
            "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]},
            "regions": regions,
            "language": language,
            "updated_at": int(time.time()),
        }
        cell_value: dict[str, Any] = {"language": language}
        if participant_id:
            record["participant_id"] = cell_value["participant_id"] = participant_id
        await self.records.put(_install_key(install_id), record)
        for cell in regions:
            await self.records.put(_cell_key(cell, install_id), cell_value)
        for cell in set(old["regions"] if old else ()) - set(regions):
            await self.records.delete(_cell_key(cell, install_id))
        return install_id, old is None

    async def remove(self, install_id: str) -> bool:
        record = await self.get(install_id)
        if record is None:
            return False
        for cell in record.get("regions", ()):
            await self.records.delete(_cell_key(cell, install_id))
        return await self.records.delete(_install_key(install_id))

    async def in_cells(self, cells: list[str]) -> dict[str, str]:
        """Install id -> language for every install subscribed to at least one of ``cells``."""
        return {k: v[0] for k, v in (await self.linked_in_cells(cells)).items()}

    async def linked_in_cells(self, cells: list[str]) -> dict[str, tuple[str, str | None]]:
        """Install id -> (language, linked participant or ``None``) for every install in ``cells``."""
        found: dict[str, tuple[str, str | None]] = {}
        if len(cells) <= CELL_SCAN_LIMIT:
            for cell in cells:
                prefix = f"cell:{cell}:"
                for key, value in await self.records.scan(prefix):
                    found.setdefault(key[len(prefix) :], (value.get("language", "nl"), value.get("participant_id")))
            return found
        wanted = set(cells)
        for key, value in await self.records.scan("install:"):
            if wanted.intersection(value.get("regions", ())):
                found[key[len("install:") :]] = (value.get("language", "nl"), value.get("participant_id"))
        return found


def check_regions(regions: list[str], limit: int) -> tuple[int, str] | None:
    """``(index, reason)`` of the first unusable region, or ``None``."""
    if len(set(regions)) > limit:
        return limit, f"at most {limit} regions per install"
    for i, cell in enumerate(regions):
        try:
            parse_cell(cell)
        except ValueError as e:
            return i, str(e)
    return None
