"""What a device may ask for itself: the app payloads its pushes would have brought it.

A device that installed after an action started, or that has no push service at all (a browser
without one, an offline machine), asks with the coarse cells it would subscribe to::

    GET /v1/channels/app/current?regions=r:52.0:5.1,r:52.0:5.2&language=nl

The answer holds, for each running action routed to the app channel whose area's bounding box touches
one of those cells, the payload an install subscribed to those cells would be pushed now (``kind:
start`` at the action's current version, as the channel pushes to a newly covered install), and for
each such action that ended within :data:`ENDED_WINDOW` its closing payload (``kind: end``). That is
what the channel pushes to any install of those cells, and nothing more: the same cells, the same
audience rule (:func:`~plugins.app.regions.cell_range`), the same payload (:func:`~plugins.app.payload.fit`).
The device decides on its own position, as for a push. Running actions come first (newest first),
then the ended ones; at most :data:`MAX_ANSWER`.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from hub.models import ActionStatus, MessageKind, Notice

from . import payload as payloads
from .regions import CellRange, cell_range, in_range

if TYPE_CHECKING:
    from .channel import AppChannel

#: how long after its end an action's closing payload is still answered (seconds)
ENDED_WINDOW = 3600.0
#: most payloads in one answer (each is at most one push message, about 4 kB)
MAX_ANSWER = 20
#: most running (and most ended) actions read from the store at once
STORE_LIMIT = 500
#: how long one read of the store answers every device's question (seconds)
CACHE_SECONDS = 5.0
#: an action whose area touches more cells is matched by its range, not looked up per cell
_INDEXED_CELLS = 256

#: the actions with their cells, the positions of those in each cell, and those matched by range
Current = tuple[list[tuple[CellRange, Notice]], dict[tuple[int, int], list[int]], list[int]]


class CurrentActions:
    """The channel's answer to ``GET current``: one read of the store serves every device for
    :data:`CACHE_SECONDS`, with the actions indexed by cell (an answer for 64 cells among 500 running
    actions takes some tens of microseconds); each payload is laid out once per action version, kind
    and language."""

    def __init__(self, channel: "AppChannel"):
        self.channel = channel
        self._read_at: float | None = None
        self._items: list[tuple[CellRange, Notice]] = []
        self._by_cell: dict[tuple[int, int], list[int]] = {}  # cell -> positions in _items
        self._wide: list[int] = []  # positions in _items of actions over more than _INDEXED_CELLS cells
        self._bodies: dict[tuple[str, int, str, str], bytes] = {}
        self._lock = asyncio.Lock()

    async def _current(self) -> Current:
        if self._read_at is not None and time.monotonic() - self._read_at < CACHE_SECONDS:
            return self._items, self._by_cell, self._wide
        async with self._lock:  # many devices at once: one of them reads, the others wait for it
            if self._read_at is not None and time.monotonic() - self._read_at < CACHE_SECONDS:
                return self._items, self._by_cell, self._wide
            feed = self.channel.context.actions
            views = await feed.current(ended_since=time.time() - ENDED_WINDOW, limit=STORE_LIMIT) if feed else []
            items = []
            for view in views:
                try:
                    cells = cell_range(view.area)
                except ValueError:  # too large for the grid: the channel pushes it to nobody
                    continue
                kind = MessageKind.END if view.status is ActionStatus.ENDED else MessageKind.START
                items.append((cells, Notice(action=view, kind=kind)))
            by_cell: dict[tuple[int, int], list[int]] = {}
            wide = []
            for position, ((i0, i1, j0, j1), _) in enumerate(items):
                if (i1 - i0 + 1) * (j1 - j0 + 1) > _INDEXED_CELLS:
                    wide.append(position)
                    continue
                for i in range(i0, i1 + 1):
                    for j in range(j0, j1 + 1):
                        by_cell.setdefault((i, j), []).append(position)
            # only the payloads of the actions as they are now: an action's earlier versions go too
            keep = {(n.action.id, n.action.version, str(n.kind)) for _, n in items}
            self._bodies = {k: v for k, v in self._bodies.items() if k[:3] in keep}
            self._items, self._by_cell, self._wide = items, by_cell, wide
            self._read_at = time.monotonic()
            return items, by_cell, wide

    async def answer(self, cells: list[tuple[int, int]], language: str) -> bytes:
        """The JSON answer ``{"actions": [payload, ...]}`` for a device of these cells (grid indices)."""
        items, by_cell, wide = await self._current()
        found = {position for cell in cells for position in by_cell.get(cell, ())}
        found.update(p for p in wide if any(in_range(c, items[p][0]) for c in cells))
        chosen = [items[p][1] for p in sorted(found)[:MAX_ANSWER]]
        return b'{"actions":[' + b",".join(self._body(n, language) for n in chosen) + b"]}"

    def _body(self, notice: Notice, language: str) -> bytes:
        action = notice.action
        key = (action.id, action.version, str(notice.kind), language)
        body = self._bodies.get(key)
        if body is None:
            body = self._bodies[key] = payloads.fit(self.channel.payload_for(notice, language))
        return body
