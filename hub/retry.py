"""Helpers for channels talking to HTTP providers: reading a provider's ``Retry-After``.

The engine never retries sooner than the ``retry_after`` a :class:`~hub.errors.TransientDeliveryError`
carries; channels fill it from the provider's answer with :func:`parse_retry_after`.
"""

from __future__ import annotations

import email.utils
import time
from datetime import timezone

#: no provider hint keeps an alert waiting longer than this by default
DEFAULT_MAX_SECONDS = 3600.0


def parse_retry_after(
    value: str | None, *, now: float | None = None, max_seconds: float | None = DEFAULT_MAX_SECONDS
) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value: delta-seconds or an HTTP date (RFC 9110 §10.2.3).

    ``None`` for a missing or unreadable value; never negative; at most ``max_seconds`` (``None``: no cap).
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    seconds = max(0.0, seconds)
    return min(seconds, max_seconds) if max_seconds is not None else seconds
