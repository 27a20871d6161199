"""Posting quotas per account, kept in the channel's record store so they survive a restart.

Two sources, the stricter wins:

* our own count of posts in the last 24 hours against the configured ``daily_quota``;
* what X said in its last answer: ``x-user-limit-24hour-remaining`` (this account),
  ``x-app-limit-24hour-remaining`` (the whole developer app, every account) and
  ``x-rate-limit-remaining`` (the 15-minute window), each with its ``-reset`` time; and a 429.

Keys: ``quota:<account>`` and ``quota:_app`` (app-wide blocks).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping

from hub.channel import RecordStore

DAY = 24 * 3600
APP = "_app"


@dataclass(frozen=True, slots=True)
class QuotaState:
    ok: bool
    used: int
    limit: int
    retry_at: float | None = None
    reason: str = ""


def _int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class Quotas:
    def __init__(self, records: RecordStore):
        self.records = records

    async def _load(self, account: str) -> dict:
        return await self.records.get(f"quota:{account}") or {"posts": [], "blocked_until": 0, "reason": ""}

    async def check(self, account: str, limit: int, now: float | None = None) -> QuotaState:
        now = time.time() if now is None else now
        record = await self._load(account)
        posts = [t for t in record["posts"] if t > now - DAY]
        app = await self._load(APP)
        for source in (record, app):
            if source.get("blocked_until", 0) > now:
                return QuotaState(False, len(posts), limit, source["blocked_until"], source.get("reason", ""))
        if len(posts) >= limit:
            return QuotaState(
                False, len(posts), limit, min(posts) + DAY, f"{len(posts)} of {limit} posts in the last 24 hours"
            )
        return QuotaState(True, len(posts), limit)

    async def record_post(self, account: str, headers: Mapping[str, str], now: float | None = None) -> None:
        """Count a post and note any limit X reported as used up."""
        now = time.time() if now is None else now
        record = await self._load(account)
        record["posts"] = [t for t in record["posts"] if t > now - DAY] + [now]
        await self.records.put(f"quota:{account}", record)
        await self.observe(account, headers, now)

    async def observe(self, account: str, headers: Mapping[str, str], now: float | None = None) -> float | None:
        """Block the account (or the app) until a reset X announced with a remaining count of 0.

        Returns the latest such reset time, if any.
        """
        now = time.time() if now is None else now
        latest = None
        for prefix, owner, what in (
            ("x-user-limit-24hour", account, "X's 24-hour posting limit for this account"),
            ("x-app-limit-24hour", APP, "X's 24-hour posting limit for the developer app"),
            ("x-rate-limit", account, "X's 15-minute rate limit"),
        ):
            remaining, reset = _int(headers, f"{prefix}-remaining"), _int(headers, f"{prefix}-reset")
            if remaining == 0 and reset is not None and reset > now:
                await self.block(owner, reset, f"{what} is used up")
                latest = max(latest or 0, reset)
        return latest

    async def block(self, account: str, until: float, reason: str) -> None:
        record = await self._load(account)
        if until > record.get("blocked_until", 0):
            record["blocked_until"] = until
            record["reason"] = reason
            await self.records.put(f"quota:{account}", record)
