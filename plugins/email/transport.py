"""A small pool of reused SMTP connections (aiosmtplib), and what an SMTP answer means for a delivery.

One ``deliver`` call holds one connection for its whole batch, so a batch of fifty mails costs one TCP
and TLS handshake, not fifty. At most ``size`` connections are open at once; an idle connection is
kept for the next batch and quietly replaced when the server has dropped it or it idled too long.

A connection lost in the middle of a batch (the server closed it, a 421 "closing channel", a read
timeout) is re-established once and the mail that was in flight is sent again. Delivery is
at-least-once: a mail whose ``250`` got lost on the wire may arrive twice; it keeps its
``Message-ID``, so mail systems that deduplicate will.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import AsyncIterator, Callable, Sequence

import aiosmtplib

log = logging.getLogger("burgerhub.channel.email")

#: SMTP errors after which the connection is unusable and worth re-establishing
_CONNECTION_LOST = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, ConnectionError)


class SmtpConnection:
    """One lazily opened SMTP session that reconnects when the server has gone away."""

    def __init__(self, factory: Callable[[], aiosmtplib.SMTP], *, max_idle: float):
        self._factory = factory
        self._max_idle = max_idle
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        self.connects = 0

    @property
    def is_open(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def _ensure(self) -> aiosmtplib.SMTP:
        if self._client is not None and time.monotonic() - self._last_used > self._max_idle:
            await self.quit()
        if self._client is None or not self._client.is_connected:
            self.drop()
            client = self._factory()
            await client.connect()
            self._client = client
            self.connects += 1
        return self._client

    async def send(self, message: bytes, sender: str, recipients: Sequence[str]) -> str:
        """Send one flattened message; return the server's answer to DATA. Reconnects once if the link was lost."""
        for attempt in (1, 2):
            try:
                client = await self._ensure()
                _, answer = await client.sendmail(sender, list(recipients), message)
                self._last_used = time.monotonic()
                return answer
            except aiosmtplib.SMTPResponseException as e:
                # 421: the server is closing the transmission channel (RFC 5321 3.8); anything else is an answer
                if e.code != 421 or attempt == 2:
                    self._last_used = time.monotonic()
                    raise
                log.info("SMTP server closed the session (421); reconnecting")
                self.drop()
            except _CONNECTION_LOST:
                self.drop()
                if attempt == 2:
                    raise
                log.info("SMTP connection lost; reconnecting")
        raise AssertionError("unreachable")

    def drop(self) -> None:
        """Forget the session without a polite QUIT (it is broken, or we were cancelled mid-command)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def quit(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit(timeout=5)
            except (aiosmtplib.SMTPException, OSError):
                client.close()
        elif client is not None:
            client.close()


class SmtpPool:
    """At most ``size`` SMTP connections, each used by one batch at a time."""

    def __init__(self, factory: Callable[[], aiosmtplib.SMTP], size: int, *, max_idle: float = 60.0):
        self._factory = factory
        self._max_idle = max_idle
        self._slots = asyncio.Semaphore(size)
        self._idle: list[SmtpConnection] = []
        self._all: list[SmtpConnection] = []
        self.size = size

    @property
    def connects(self) -> int:
        """How many SMTP sessions were opened so far (for tests and ``describe``)."""
        return sum(c.connects for c in self._all)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[SmtpConnection]:
        async with self._slots:
            if self._idle:
                conn = self._idle.pop()
            else:
                conn = SmtpConnection(self._factory, max_idle=self._max_idle)
                self._all.append(conn)
            try:
                yield conn
            except BaseException:
                # cancelled or crashed mid-conversation: the session state is unknown
                conn.drop()
                raise
            finally:
                self._idle.append(conn)

    async def close(self) -> None:
        await asyncio.gather(*(c.quit() for c in self._all), return_exceptions=True)
        self._idle.clear()
        self._all.clear()
