"""A token bucket for provider rate limits (messages per second, with a one-second burst)."""

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
