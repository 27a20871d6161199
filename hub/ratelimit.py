"""Token buckets for provider rate limits (messages per second, with a one-second burst).

:class:`RateLimiter` keeps the bucket in this process (one hub on an embedded store);
:class:`SharedRateLimiter` keeps it in the shared store, so a provider account's limit is one limit for
every hub process together.
"""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    """``await limiter.acquire(n)`` waits until ``n`` tokens are available. Fair enough for one channel."""

    def __init__(self, rate: float, burst: float | None = None):
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else max(rate, 1.0))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self, n: float = 1.0) -> None:
        if not self._lock.locked():
            # nobody waits and the bucket holds enough: take it without the lock (no await in between)
            self._refill()
            if self.tokens >= min(n, self.capacity):
                self.tokens -= n
                return
        async with self._lock:
            while True:
                self._refill()
                # a batch larger than the bucket may go once the bucket is full, then pays its debt
                if self.tokens >= min(n, self.capacity):
                    self.tokens -= n
                    return
                await asyncio.sleep((min(n, self.capacity) - self.tokens) / self.rate)


class SharedRateLimiter:
    """``await limiter.acquire(n)`` takes ``n`` tokens from the channel's bucket in the shared store;
    every process draws from the same bucket.

    Tokens are reserved a few at a time (:data:`CHUNK_SECONDS` of the rate, at most the burst: one
    statement and one wait per chunk, not per message, so a per-recipient channel's workers do not
    queue for the database) and handed out here in order. A chunk's tokens that are not used within
    :data:`KEEP_SECONDS` are dropped: a token granted a while ago adds at most ``rate * KEEP_SECONDS``
    to a burst.
    """

    CHUNK_SECONDS = 0.05
    KEEP_SECONDS = 0.05

    def __init__(self, store, channel: str, rate: float, burst: float | None = None):
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.store, self.channel = store, channel
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else max(rate, 1.0))
        self.chunk = max(1.0, min(self.capacity, self.rate * self.CHUNK_SECONDS))
        self.tokens = 0.0
        self.granted = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self, n: float = 1.0) -> None:
        async with self._lock:
            if time.monotonic() - self.granted > self.KEEP_SECONDS:
                self.tokens = 0.0
            if self.tokens < n:
                need = max(n - self.tokens, self.chunk)
                wait = await self.store.rate_reserve(self.channel, need, self.rate, self.capacity)
                if wait > 0:
                    await asyncio.sleep(wait)
                self.tokens += need
                self.granted = time.monotonic()
            self.tokens -= n
