"""``Retry-After`` as providers send it: seconds or an HTTP date."""

from __future__ import annotations

import email.utils
import time

import pytest

from hub.retry import parse_retry_after


@pytest.mark.parametrize(
    "value, expected",
    [(None, None), ("", None), (" 5 ", 5.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None), ("nan", None),
     ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_seconds_and_dates_in_the_past(value, expected):
    assert parse_retry_after(value) == expected


def test_an_http_date_counts_from_now():
    now = 1_800_000_000.0
    value = email.utils.formatdate(now + 120, usegmt=True)
    assert parse_retry_after(value, now=now) == 120.0
    assert 25 <= parse_retry_after(email.utils.formatdate(time.time() + 30, usegmt=True)) <= 31


def test_a_hint_is_capped_unless_told_otherwise():
    assert parse_retry_after("86400") == 3600.0
    assert parse_retry_after("86400", max_seconds=60) == 60.0
    assert parse_retry_after("86400", max_seconds=None) == 86400.0
