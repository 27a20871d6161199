"""What the log keeps of a request aiohttp could not parse: its kind, never its text.

aiohttp logs such a request (a malformed request line, a bad header, a line past its limit) at ERROR
with a traceback whose exception quotes the offending line, and with the client's address. That line
is whatever the client sent, a phone number or an e-mail address in a query string included, and
personal data stays out of burgerhub's logs. :class:`UnparseableRequests` rewrites those records in
place to one WARNING line naming the status and the exception's class.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

SERVER_LOGGER = "aiohttp.server"


class UnparseableRequests(logging.Filter):
    """Turns aiohttp's record of an unparseable request into one line without the request's text."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            level = logging.DEBUG if record.levelno <= logging.DEBUG else logging.WARNING
            record.msg = "refused a request that is not valid HTTP with %d (%s)"
            record.args = (exc.code, type(exc).__name__)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = level, logging.getLevelName(level)
        return True


def install() -> None:
    """Add the filter to aiohttp's server logger once per process."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(f, UnparseableRequests) for f in logger.filters):
        logger.addFilter(UnparseableRequests())
