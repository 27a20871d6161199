"""paho-mqtt 2.x on the asyncio event loop, with a publish queue that outlives connections.

How paho joins the loop (the way aiomqtt 2 does it; no polling, no network thread):

* ``Client.connect`` blocks on the TCP and TLS handshakes, so it runs in the default executor. No
  socket callbacks are installed yet, so paho writes its CONNECT packet on that thread and touches
  nothing of ours. Back on the loop the socket is registered with ``loop.add_reader``, and with
  ``loop.add_writer`` whenever paho has bytes waiting (``on_socket_register_write`` /
  ``on_socket_unregister_write``). ``loop_read`` and ``loop_write`` therefore run on the loop, and so
  do the paho callbacks they trigger: CONNACK, PUBACK, SUBACK, messages and disconnects.
* ``loop_misc`` (keepalive pings, dead-connection detection) runs on a one-second timer.
* Every publish is QoS 1 and its future resolves on PUBACK, matched by message id.

The link, not paho, owns undelivered messages: each connection uses a fresh paho client with a clean
session. Messages queue while disconnected; a retained message supersedes a queued older one for
the same topic (only the latest retained value matters; the older one's waiters resolve with the
newer); messages still waiting for PUBACK when a connection drops go back to the head of the queue.
Reconnects back off exponentially with jitter (:class:`Backoff`), capped at ``reconnect_max_delay``
(5 s by default): however long the broker was away, the link tries again within the cap of its return,
so a sign gets its state back within seconds. The delay resets once a connection has stayed up for a
while, so a broker that accepts and drops at once is not hammered.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import random
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

#: a connection that lasted this long resets the reconnect back-off
STABLE_AFTER_S = 10.0
MISC_INTERVAL_S = 1.0


class LinkClosed(ConnectionError):
    """The link was closed before the message could be delivered."""


class PublishRefused(Exception):
    """The broker acknowledged a publish with a failure reason code (MQTT 5, e.g. not authorized)."""

    def __init__(self, topic: str, reason: str):
        self.topic = topic
        self.reason = reason
        super().__init__(f"broker refused publish to {topic}: {reason}")


@dataclass(frozen=True, kw_only=True)
class BrokerConfig:
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str = ""
    keepalive: int = 60
    protocol: str = "5"  # "5" or "3.1.1"
    tls: ssl.SSLContext | None = None
    connect_timeout: float = 10.0
    reconnect_min_delay: float = 0.5
    #: the longest wait between two connection attempts: bounds how long after a broker's return
    #: the link is back, however long the broker was away
    reconnect_max_delay: float = 5.0
    #: ``(topic, payload)`` the broker publishes retained (QoS 1) if the connection dies unannounced
    will: tuple[str, bytes] | None = None


class Backoff:
    """Reconnect delays: doubling from ``minimum`` up to ``maximum``, each with jitter in [50 %, 100 %].

    ``maximum`` is a hard bound on every delay, so the first attempt after a broker returns comes at
    most ``maximum`` seconds later whatever the length of the outage; ``reset`` starts over from
    ``minimum`` (after a connection that stayed up).
    """

    def __init__(self, minimum: float, maximum: float, *, jitter: Callable[[], float] | None = None):
        self.minimum = minimum
        self.maximum = max(maximum, minimum)
        self._jitter = jitter or (lambda: random.uniform(0.5, 1.0))
        self._next = self.minimum

    @property
    def nominal(self) -> float:
        """The next delay before jitter."""
        return self._next

    def reset(self) -> None:
        self._next = self.minimum

    def next(self) -> float:
        """The delay to wait now; the following one doubles, up to the cap."""
        delay = min(self._next * self._jitter(), self.maximum)
        self._next = min(self._next * 2, self.maximum)
        return delay


@dataclass(eq=False, slots=True)
class _Outgoing:
    topic: str
    payload: bytes
    retain: bool
    waiters: list[asyncio.Future[None]]
    superseded: bool = False


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark a waiter's exception as seen: a caller that timed out and left must not cause log noise."""
    if not future.cancelled():
        future.exception()


class MqttLink:
    """One logical, self-healing connection to a broker. Create, ``await start()``, ``await close()``.

    ``on_connect`` is awaited after every successful connect, before queued messages are flushed
    (the channel republishes its full state there). ``on_message(topic, payload, retained)`` is
    called on the loop for messages on the filters given to :meth:`subscribe`.
    """

    def __init__(
        self,
        config: BrokerConfig,
        *,
        on_connect: Callable[[], Awaitable[None]] | None = None,
        on_message: Callable[[str, bytes, bool], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self._on_connect_cb = on_connect
        self._on_message_cb = on_message
        self._log = logger or logging.getLogger("burgerhub.mqtt")
        self._client_id = config.client_id or f"burgerhub-{uuid.uuid4().hex[:12]}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: mqtt.Client | None = None
        self._fd: int | None = None
        self._misc_task: asyncio.Task[None] | None = None
        self._connack: asyncio.Future[None] | None = None
        self._lost = asyncio.Event()
        self._ready = asyncio.Event()
        self._closing = False
        self._outbox: collections.deque[_Outgoing] = collections.deque()
        self._queued_retained: dict[str, _Outgoing] = {}
        self._inflight: dict[int, _Outgoing] = {}
        self._subscriptions: list[str] = []
        self._pending_subs: dict[int, asyncio.Future[list[Any]]] = {}
        #: CONNACK received and not lost yet (``_ready`` follows once the on-connect handler ran)
        self._session_up = False
        #: successful connections so far (the first one included)
        self.connects = 0
        self.last_error: str | None = None

    # -- public API --------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    @property
    def queued(self) -> int:
        """Messages not yet acknowledged by the broker (queued or in flight)."""
        return sum(not m.superseded for m in self._outbox) + len(self._inflight)

    async def start(self) -> None:
        """Start connecting in the background; returns at once (use :meth:`wait_connected` to wait)."""
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name=f"mqtt-link {self.config.host}:{self.config.port}")

    async def wait_connected(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> asyncio.Future[None]:
        """Queue a QoS 1 message; the future resolves on PUBACK (after reconnects if need be).

        It fails with :class:`PublishRefused` if the broker refuses the message and with
        :class:`LinkClosed` if the link closes first. Await it with ``asyncio.shield`` under a timeout:
        a caller giving up does not withdraw the message.
        """
        if self._closing:
            raise LinkClosed("link is closed")
        if not topic or "+" in topic or "#" in topic or len(topic.encode()) > 65535:
            raise ValueError(f"not a valid topic to publish to: {topic!r}")
        loop = self._loop or asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        waiter.add_done_callback(_consume)
        msg = _Outgoing(topic, payload, retain, [waiter])
        if retain:
            older = self._queued_retained.get(topic)
            if older is not None:
                older.superseded = True
                msg.waiters[:0] = older.waiters
            self._queued_retained[topic] = msg
        self._outbox.append(msg)
        self._flush()
        return waiter

    async def subscribe(self, *filters: str) -> list[Any]:
        """Subscribe (QoS 1) now and after every reconnect; returns the SUBACK reason codes when connected.

        The broker sends the retained messages of a subscription before it answers a later SUBSCRIBE,
        so awaiting a second ``subscribe`` is a barrier: every retained message of the first has arrived.
        """
        self._subscriptions.extend(f for f in filters if f not in self._subscriptions)
        client = self._client
        if not self._session_up or client is None:
            return []  # sent with the others as soon as the connection is up
        rc, mid = client.subscribe([(f, 1) for f in filters])
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectionError(f"subscribe failed: {mqtt.error_string(rc)}")
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending_subs[mid] = future
        return await future

    async def close(self, final: tuple[str, bytes] | None = None, *, timeout: float = 2.0) -> None:
        """Publish ``final`` (retained) if connected, disconnect cleanly, and fail what is still queued."""
        if self._closing:
            return
        if final is not None and self.connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.publish(*final, retain=True)), timeout)
        self._closing = True
        client = self._client
        if client is not None and self.connected:
            client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._teardown()
        error = LinkClosed("link closed before the broker acknowledged the message")
        for msg in self._outbox:
            for waiter in msg.waiters:
                if not waiter.done():
                    waiter.set_exception(error)
        self._outbox.clear()
        self._queued_retained.clear()

    # -- connection management ---------------------------------------------------------------------

    async def _run(self) -> None:
        cfg = self.config
        backoff = Backoff(cfg.reconnect_min_delay, cfg.reconnect_max_delay)
        loop = asyncio.get_running_loop()
        while not self._closing:
            try:
                await self._connect()
            except asyncio.CancelledError:
                self._teardown()
                raise
            except Exception as e:  # refused, unreachable, TLS failure, bad credentials, timeout
                self._teardown()
                self.last_error = f"{type(e).__name__}: {e}"
                self._log.warning(
                    "MQTT connect to %s:%d failed (%s); retrying in about %.2f s",
                    cfg.host, cfg.port, self.last_error, backoff.nominal,
                )
            else:
                since = loop.time()
                try:
                    await self._serve()
                finally:
                    self._teardown()
                if loop.time() - since >= STABLE_AFTER_S:
                    backoff.reset()
                if not self._closing:
                    self._log.warning("MQTT connection to %s:%d lost; reconnecting in about %.2f s",
                                      cfg.host, cfg.port, backoff.nominal)
            if self._closing:
                return
            await asyncio.sleep(backoff.next())

    def _new_client(self) -> mqtt.Client:
        cfg = self.config
        v5 = cfg.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if v5 else True,
            reconnect_on_failure=False,
        )
        client.connect_timeout = cfg.connect_timeout
        client.enable_logger(self._log.getChild("paho"))
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls is not None:
            client.tls_set_context(cfg.tls)
        if cfg.will is not None:
            client.will_set(cfg.will[0], cfg.will[1], qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    async def _connect(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        client = self._new_client()
        self._client = client
        self._connack = loop.create_future()
        self._lost = asyncio.Event()
        connecting = loop.run_in_executor(None, functools.partial(client.connect, cfg.host, cfg.port, cfg.keepalive))
        try:
            rc = await asyncio.wait_for(asyncio.shield(connecting), cfg.connect_timeout * 2)
        except BaseException:
            # the thread cannot be stopped; close whatever socket it opens once it is done
            connecting.add_done_callback(lambda _f: _close_socket(client))
            raise
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectionError(mqtt.error_string(rc))
        self._watch(client)
        await asyncio.wait_for(asyncio.shield(self._connack), cfg.connect_timeout)

    async def _serve(self) -> None:
        self._session_up = True
        self.connects += 1
        self.last_error = None
        self._log.info("MQTT connected to %s:%d as %s", self.config.host, self.config.port, self._client_id)
        client = self._client
        if self._subscriptions and client is not None:
            client.subscribe([(f, 1) for f in self._subscriptions])
        if self._on_connect_cb is not None:
            try:
                await self._on_connect_cb()
            except Exception:
                self._log.exception("MQTT on-connect handler failed")
        if not self._lost.is_set():
            self._ready.set()
            self._flush()
        await self._lost.wait()

    def _watch(self, client: mqtt.Client) -> None:
        """Hand the connected socket to the event loop (runs on the loop thread)."""
        sock = client.socket()
        if sock is None:
            raise ConnectionError("no socket after connect")
        loop = asyncio.get_running_loop()
        self._fd = sock.fileno()
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        loop.add_reader(self._fd, self._readable, client)
        if client.want_write():
            loop.add_writer(self._fd, self._writable, client)
        self._misc_task = loop.create_task(self._misc(client))

    def _unwatch(self) -> None:
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
        self._fd = None

    def _teardown(self) -> None:
        """Forget the current client and put unacknowledged messages back at the head of the queue."""
        self._ready.clear()
        self._session_up = False
        self._lost.set()
        client, self._client = self._client, None
        if self._misc_task is not None:
            self._misc_task.cancel()
            self._misc_task = None
        self._unwatch()
        if client is not None:
            _close_socket(client)
        if self._connack is not None and not self._connack.done():
            self._connack.cancel()
        for future in self._pending_subs.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost before SUBACK"))
        self._pending_subs.clear()
        for msg in reversed(list(self._inflight.values())):
            newer = self._queued_retained.get(msg.topic) if msg.retain else None
            if newer is not None and newer is not msg:
                newer.waiters[:0] = msg.waiters
                continue
            self._outbox.appendleft(msg)
            if msg.retain:
                self._queued_retained[msg.topic] = msg
        self._inflight.clear()

    def _flush(self) -> None:
        client = self._client
        while self._outbox and self._ready.is_set() and client is not None:
            msg = self._outbox[0]
            if msg.superseded:
                self._outbox.popleft()
                continue
            info = client.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._log.debug("publish to %s deferred: %s", msg.topic, mqtt.error_string(info.rc))
                return  # the connection is going down; the message stays at the head of the queue
            self._outbox.popleft()
            if self._queued_retained.get(msg.topic) is msg:
                del self._queued_retained[msg.topic]
            self._inflight[info.mid] = msg

    # -- socket events (on the loop) ---------------------------------------------------------------

    def _readable(self, client: mqtt.Client) -> None:
        if client is not self._client:
            return
        try:
            rc = client.loop_read()
            sock = client.socket()
            # TLS may hold decrypted bytes the selector cannot see
            while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and isinstance(sock, ssl.SSLSocket) and sock.pending():
                rc = client.loop_read()
        except Exception as e:
            self._log.warning("MQTT read failed: %s", e)
            self._drop(client)

    def _writable(self, client: mqtt.Client) -> None:
        if client is not self._client:
            return
        try:
            client.loop_write()
        except Exception as e:
            self._log.warning("MQTT write failed: %s", e)
            self._drop(client)

    def _drop(self, client: mqtt.Client) -> None:
        if client is self._client:
            self._unwatch()
            _close_socket(client)
            self._lost.set()

    async def _misc(self, client: mqtt.Client) -> None:
        while True:
            await asyncio.sleep(MISC_INTERVAL_S)
            if client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                if client is self._client:
                    self._lost.set()
                return

    # -- paho callbacks (called from loop_read / loop_write / loop_misc, so on the loop) ------------

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if client is self._client:
            self._unwatch()

    def _on_socket_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if client is self._client and self._fd is not None and self._loop is not None:
            self._loop.add_writer(self._fd, self._writable, client)

    def _on_socket_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if client is self._client and self._fd is not None and self._loop is not None:
            self._loop.remove_writer(self._fd)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if client is not self._client or self._connack is None or self._connack.done():
            return
        if reason.is_failure:
            self._connack.set_exception(ConnectionRefusedError(f"broker refused the connection: {reason}"))
        else:
            self._connack.set_result(None)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if client is not self._client:
            return
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(ConnectionError(f"disconnected before CONNACK: {reason}"))
        self._lost.set()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        if client is not self._client:
            return
        msg = self._inflight.pop(mid, None)
        if msg is None:
            return
        error = PublishRefused(msg.topic, str(reason)) if reason.is_failure else None
        for waiter in msg.waiters:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        future = self._pending_subs.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(list(reasons))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._on_message_cb is not None and client is self._client:
            try:
                self._on_message_cb(message.topic, bytes(message.payload), bool(message.retain))
            except Exception:
                self._log.exception("MQTT message handler failed for %s", message.topic)


def _close_socket(client: mqtt.Client) -> None:
    sock = client.socket()
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
