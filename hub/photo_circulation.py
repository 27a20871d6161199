"""Whether an action's photo is still served to the public.

A photo goes round while the action it belongs to runs: the public pages, messages and shares link to
``/v1/photos/<name>``. Once the action has ended (a missing person found, a suspect arrested) the photo
must stop going round: :data:`GRACE_SECONDS` after the end, the public URL answers 410 Gone. The grace
lets the closing message and the pages that show it render without a broken image.

A photo is withdrawn when at least one action names it and every action that names it ended more than
the grace ago; a photo no action names yet (just uploaded, the action not started) is served, and so
is one that a running action names too (the same picture used again). Dispatchers and operators,
with their token, still see every photo in the console. The answer is kept for :data:`CACHE_SECONDS`
per photo, so a photo shared widely costs one look through the actions every few seconds, not one per
request; public caches keep a photo at most :data:`MAX_AGE_SECONDS`.
"""

from __future__ import annotations

import time
from typing import Any, Callable

#: how long after its action ended a photo is still served to the public
GRACE_SECONDS = 600.0
#: how long one process keeps the answer for one photo
CACHE_SECONDS = 10.0
#: what public caches (browsers, proxies) may keep a served photo for
MAX_AGE_SECONDS = 300
_CACHE_SIZE = 4096


class PhotoCirculation:
    def __init__(self, store: Any, *, grace_seconds: float = GRACE_SECONDS, cache_seconds: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.grace_seconds = grace_seconds
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._known: dict[str, tuple[float, bool]] = {}

    async def withdrawn(self, name: str) -> bool:
        """Whether the public may no longer see photo ``name`` (every action naming it ended past the grace)."""
        now = self._clock()
        cached = self._known.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        users = await self.store.photo_actions(name)
        withdrawn = bool(users) and all(
            status == "ended" and now - ended_at >= self.grace_seconds for status, ended_at in users
        )
        if self.cache_seconds > 0:
            if len(self._known) >= _CACHE_SIZE:
                self._known.clear()
            self._known[name] = (now + self.cache_seconds, withdrawn)
        return withdrawn
