"""The delivery engine: drains the ledger through the channels, with pools, rate limits and retries.

One dispatcher task per channel claims due rows (urgent first), groups them by notice into batches
of the channel's ``batch_size`` and hands them to a fixed pool of ``concurrency`` worker tasks, each
running one ``deliver`` call at a time behind the channel's rate limiter (a per-recipient channel thus
costs no task per message). Transient failures are requeued with exponential backoff (or the provider's
``Retry-After``); permanent ones are final. A row is leased while in flight, so a crash leaves it to
be requeued: delivery is at-least-once, deduplicated by the ledger's unique key.

What a crash sends twice: rows the provider took whose outcome was not written yet. Where the
provider's later reports carry an id the hub chooses (:meth:`hub.channel.Channel.provider_ids`: CM's
per-message ``reference``), the engine writes those ids to the ledger before the request goes out
(``hand_over``, one statement per batch). After a crash such rows are *in doubt*: they wait
``in_doubt_seconds`` for a report, and a report of the message settles its row instead of a resend.
An action that ends meanwhile does not cancel its starts in doubt (the provider had them) nor send
them after the end: they count as sent, and each one's closing is held until the doubt is over. A
report that the start arrived releases the closing at once; one that it failed (or is to be retried)
skips it; with no report within ``in_doubt_seconds`` the start counts as sent and the closing goes
out then: a closing to someone who may have had the start is better than silence to someone who did
(see :data:`hub.store.queries.SENT_IN_DOUBT`).

Outcomes are written back in bulk by one writer task (two at once on a shared store): a ``deliver``
call's slot is free as soon as the provider has answered, and whatever finished while the writer was
busy goes into its next transaction (group commit), so a per-recipient provider costs one ledger
write per many messages.
A channel claims no more rows while more than one claim's worth of its outcomes wait to be written:
rows the provider took but the ledger does not show yet are what a crash sends twice, so the writer
falling behind must not let them pile up.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping, Sequence

from .channel import Channel
from .config import EngineSettings
from .errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from .models import ActionStatus, ActionView, Delivery, MessageKind, Notice, ReceiptStatus, Recipient
from .ratelimit import RateLimiter
from .store import DeliveryStatus, LedgerRow, Outcome

log = logging.getLogger("burgerhub.engine")

ActionLoader = Callable[[str], Awaitable[ActionView | None]]

#: the fewest rows a claim asks for (see :func:`claim_window`)
MIN_CLAIM = 512
#: outcomes fewer than this wait up to COALESCE_SECONDS for company before they are written
COALESCE_ROWS = 256
COALESCE_SECONDS = 0.005
#: how often a cluster's sweeper looks for rows left in flight by a process that stopped
SWEEP_SECONDS = 2.0
#: outcome writes one process runs at once on a shared store (they touch disjoint rows)
SHARED_WRITERS = 2


class _Lane:
    """The hand-over between a channel's dispatcher and its workers."""

    __slots__ = ("queue", "busy")

    def __init__(self, concurrency: int) -> None:
        # bounded: the dispatcher claims again only once the workers are about to run dry
        self.queue: asyncio.Queue[list[LedgerRow] | None] = asyncio.Queue(maxsize=max(1, concurrency))
        self.busy = 0  # batches handed over and not yet delivered

    def took(self) -> None:
        self.busy += 1

    def finished(self) -> None:
        self.busy -= 1


@dataclass
class ChannelRuntime:
    """A started channel and how the engine drives it."""

    name: str
    channel: Channel
    sandbox: bool
    concurrency: int
    batch_size: int
    limiter: RateLimiter | None = None
    stats: dict[str, int] = field(default_factory=dict)
    #: on a cluster, only the process holding the duty ``channel:<name>`` delivers it
    exclusive: bool = False


class DeliveryEngine:
    def __init__(
        self,
        store,
        runtimes: Mapping[str, ChannelRuntime],
        load_action: ActionLoader,
        settings: EngineSettings,
        *,
        metrics=None,
        single_node: bool = True,
        duties=None,
        hold=None,
    ):
        self.store = store
        self.runtimes = dict(runtimes)
        self.load_action = load_action
        self.settings = settings
        self.metrics = metrics
        self.single_node = single_node
        self.duties = duties
        #: ``hold(channel, action, kind, rows) -> (rows to deliver now, outcomes of the others)``: rows a
        #: participant's preference holds back or makes unnecessary (see :mod:`hub.fallback`)
        self.hold = hold
        self.owner = uuid.uuid4().hex
        self._events: dict[str, asyncio.Event] = {name: asyncio.Event() for name in self.runtimes}
        self._tasks: list[asyncio.Task] = []
        self._lanes: dict[str, _Lane] = {name: _Lane(rt.concurrency) for name, rt in self.runtimes.items()}
        self._workers: dict[str, list[asyncio.Task]] = {name: [] for name in self.runtimes}
        self._views: dict[str, tuple[float, ActionView]] = {}
        self._pending: list[Outcome] = []
        #: per channel, outcomes recorded and not yet written (``_pending`` plus the write under way)
        self._unwritten: dict[str, int] = {name: 0 for name in self.runtimes}
        self._pending_counts: list[tuple[str, int]] = []
        self._written = asyncio.Event()
        #: outcome writes at once: one on the embedded store (its writes are serial anyway); two on a
        #: shared store, so one write's round trips and the server's work overlap the next one's
        self._max_writers = 1 if single_node else SHARED_WRITERS
        self._flush_lock = asyncio.Semaphore(self._max_writers)
        self._writers: list[asyncio.Task] = []
        self._idle = asyncio.Event()
        self._stopping = False

    # -- control ---------------------------------------------------------------------------
    async def start(self) -> None:
        requeued = await self.store.requeue_orphans(
            None if self.single_node else self.owner, in_doubt_seconds=self.settings.in_doubt_seconds)
        if requeued:
            log.warning("requeued %d deliveries left in flight by a previous run", requeued)
        for name, rt in self.runtimes.items():
            self._workers[name] = [
                asyncio.create_task(self._work(rt, self._lanes[name]), name=f"burgerhub-deliver-{name}-{i}")
                for i in range(max(1, rt.concurrency))
            ]
            self._tasks.append(asyncio.create_task(self._dispatch(rt), name=f"burgerhub-dispatch-{name}"))
            self._events[name].set()
        if not self.single_node:
            self._tasks.append(asyncio.create_task(self._sweep(), name="burgerhub-sweep"))

    async def _sweep(self) -> None:
        """On a cluster, the process holding the "sweeps" duty gives rows in flight of dead processes
        (and expired leases) back to the queue; the others pick them up through the wake-up."""
        while not self._stopping:
            await asyncio.sleep(SWEEP_SECONDS)
            if self.duties is not None and not self.duties.holds("sweeps"):
                continue
            try:
                n = await self.store.requeue_orphans(None, in_doubt_seconds=self.settings.in_doubt_seconds)
            except Exception:
                log.exception("sweeping orphaned deliveries failed")
                continue
            if n:
                log.warning("requeued %d deliveries left in flight by a process that stopped", n)
                self.wake()

    async def stop(self) -> None:
        """Stop claiming, let in-flight deliveries finish (bounded), and write their outcomes."""
        self._stopping = True
        for ev in self._events.values():
            ev.set()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        workers = []
        for name, lane in self._lanes.items():
            # batches not yet started stay leased and are requeued by the next start
            while not lane.queue.empty():
                if lane.queue.get_nowait() is not None:
                    lane.finished()
            for _ in self._workers[name]:
                lane.queue.put_nowait(None)  # each worker stops after the batch it is delivering
            workers.extend(self._workers[name])
        if workers:
            done, pending = await asyncio.wait(workers, timeout=10)
            for t in pending:
                t.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        if self._writers:
            await asyncio.gather(*self._writers, return_exceptions=True)
        await self._flush()

    def wake(self, channels: Sequence[str] | None = None) -> None:
        for name in channels if channels is not None else list(self._events):
            ev = self._events.get(name)
            if ev is not None:
                ev.set()

    def forget(self, action_id: str) -> None:
        """Drop the cached view of an action after it changed."""
        self._views.pop(action_id, None)

    def remember(self, view: ActionView) -> None:
        """Cache the view of an action that was just written, so its first batch need not read it back."""
        self._views[view.id] = (time.monotonic(), view)

    async def drain(self, timeout: float = 30.0) -> bool:
        """Wait until no row is queued (retries included) or in flight; for tests and the demo."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self._flush()
            busy = any(lane.busy for lane in self._lanes.values())
            if not busy and not await self.store.busy_channels():
                return True
            await asyncio.sleep(0.02)
        return False

    # -- dispatch --------------------------------------------------------------------------
    async def _view(self, action_id: str, kind: str | None = None, seq: int = 0) -> ActionView | None:
        cached = self._views.get(action_id)
        now = time.monotonic()
        # another process (a cluster's, or the CLI's on the same store) may have ended or updated the
        # action since this view was read: a closing or an update is never rendered from an older view
        if cached and now - cached[0] < 2.0 and _renders(cached[1], kind, seq):
            return cached[1]
        view = await self.load_action(action_id)
        if view is not None:
            self._views[action_id] = (now, view)
        return view

    async def _dispatch(self, rt: ChannelRuntime) -> None:
        event = self._events[rt.name]
        lane = self._lanes[rt.name]
        window = claim_window(rt, self.settings)
        idle = True
        while not self._stopping:
            if not idle:
                await self._keep_up(rt.name, window)
            # cleared before claiming: a wake-up that arrives while the claim runs is not lost
            event.clear()
            if rt.exclusive and self.duties is not None and not self.duties.holds(f"channel:{rt.name}"):
                # another process of the cluster delivers this channel; look again in a while
                try:
                    await asyncio.wait_for(event.wait(), timeout=self.settings.poll_interval)
                except asyncio.TimeoutError:
                    pass
                continue
            try:
                rows = await self.store.claim(
                    rt.name,
                    # after a quiet spell the first batch goes out alone, so it leaves as soon as it can
                    min(rt.batch_size, window) if idle else window,
                    owner=self.owner,
                    lease_seconds=self.settings.lease_seconds,
                )
            except Exception:
                log.exception("claiming deliveries for %s failed", rt.name)
                rows = []
            idle = not rows
            if not rows:
                timeout = self.settings.poll_interval
                due = await self.store.next_due(rt.name)
                if due is not None:
                    timeout = max(0.0, min(timeout, due - time.time()))
                try:
                    await asyncio.wait_for(event.wait(), timeout=timeout)
                except asyncio.TimeoutError:
                    pass
                continue
            for group in _group(rows, rt.batch_size):
                lane.took()
                try:
                    await lane.queue.put(group)
                except BaseException:
                    lane.finished()
                    raise

    async def _keep_up(self, channel: str, limit: int) -> None:
        """Wait while more than ``limit`` of the channel's outcomes wait to be written."""
        while self._unwritten.get(channel, 0) > limit and not self._stopping:
            self._written.clear()
            try:
                await asyncio.wait_for(self._written.wait(), timeout=self.settings.poll_interval)
            except asyncio.TimeoutError:
                pass

    async def _work(self, rt: ChannelRuntime, lane: _Lane) -> None:
        """One of a channel's ``concurrency`` workers: delivers handed-over batches one at a time."""
        while (group := await lane.queue.get()) is not None:
            try:
                await self._deliver(rt, group)
            except asyncio.CancelledError:
                raise
            except Exception:  # the rows stay leased and are requeued after the lease
                log.exception("delivering a batch through %s failed", rt.name)
            finally:
                lane.finished()

    async def _deliver(self, rt: ChannelRuntime, rows: list[LedgerRow]) -> None:
        first = rows[0]
        view = await self._view(first.action_id, first.kind, first.seq)
        if view is None:
            await self._record([Outcome(r.id, DeliveryStatus.FAILED, "action_missing") for r in rows], rt.name)
            return
        if self.hold is not None:
            rows, held = await self.hold(rt.name, view, first.kind, rows)
            if held:
                await self._record(held, rt.name)
            if not rows:
                return
        kind = MessageKind(first.kind)
        notice = Notice(action=view, kind=kind)
        action_id, channel = first.action_id, first.channel
        deliveries = [
            Delivery(
                id=r.id,
                action_id=action_id,
                channel=channel,
                kind=kind,
                recipient=Recipient(address=r.address, participant_id=r.participant_id, language=r.language),
                attempt=r.attempts,
            )
            for r in rows
        ]
        by_id = {r.id: r for r in rows}
        started = time.perf_counter()
        try:
            if rt.sandbox:
                outcomes = await self._sandbox(rt, notice, deliveries)
            else:
                if rt.limiter is not None:
                    await rt.limiter.acquire(len(deliveries))
                ids_of = getattr(rt.channel, "provider_ids", None)  # a duck-typed channel may lack it
                handed = ids_of(notice, deliveries) if ids_of is not None else None
                if handed:
                    await self.store.hand_over(handed)
                receipts = await rt.channel.deliver(notice, deliveries)
                outcomes = self._outcomes(rt, by_id, receipts)
        except DeliveryError as e:
            outcomes = [self._failure(r, e) for r in rows]
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("channel %s raised while delivering", rt.name)
            outcomes = [self._failure(r, TransientDeliveryError(f"{type(e).__name__}: {e}", code="crash")) for r in rows]
        if self.metrics is not None:
            self.metrics.observe_batch(rt.name, notice.kind.value, time.perf_counter() - started, outcomes)
        await self._record(outcomes, rt.name)

    def _outcomes(self, rt: ChannelRuntime, by_id: Mapping[int, LedgerRow], receipts) -> list[Outcome]:
        outcomes = []
        seen = set()
        failed = ReceiptStatus.FAILED
        for receipt in receipts:
            row_id = receipt.delivery_id
            if row_id in seen or row_id not in by_id:
                continue
            seen.add(row_id)
            if receipt.status is failed:
                err = receipt.error or PermanentDeliveryError("failed without a reason")
                if not isinstance(err, DeliveryError):
                    err = TransientDeliveryError(f"{type(err).__name__}: {err}")
                outcomes.append(self._failure(by_id[row_id], err, receipt.provider_id))
            else:
                outcomes.append(Outcome(row_id, receipt.status.value, None, receipt.provider_id))
        if len(seen) < len(by_id):
            for row_id, row in by_id.items():
                if row_id not in seen:
                    outcomes.append(
                        self._failure(row, TransientDeliveryError("channel returned no receipt", code="no_receipt"))
                    )
        return outcomes

    def _failure(self, row: LedgerRow, error: DeliveryError, provider_id: str | None = None) -> Outcome:
        reason = f"{error.code}: {error.reason}"[:500]
        if isinstance(error, PermanentDeliveryError) or not isinstance(error, TransientDeliveryError):
            return Outcome(row.id, DeliveryStatus.FAILED, reason, provider_id)
        if row.attempts >= self.settings.max_attempts:
            return Outcome(row.id, DeliveryStatus.FAILED, f"retries_exhausted: {reason}"[:500], provider_id)
        return Outcome(row.id, DeliveryStatus.QUEUED, reason, provider_id, retry_at=time.time() + self.backoff(row.attempts, error.retry_after))

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with jitter, never sooner than the provider asked."""
        delay = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** max(0, attempt - 1))
        delay = delay * (0.5 + random.random() / 2)
        return max(delay, retry_after or 0.0)

    async def _sandbox(self, rt: ChannelRuntime, notice: Notice, deliveries: list[Delivery]) -> list[Outcome]:
        rows, outcomes = [], []
        for d in deliveries:
            rendered = rt.channel.render(notice, d.recipient)
            rows.append(
                {
                    "delivery_id": d.id,
                    "channel": rt.name,
                    "action_id": d.action_id,
                    "kind": d.kind.value,
                    "address": d.recipient.address,
                    "language": d.recipient.language,
                    "subject": rendered.subject,
                    "text": rendered.text,
                    "html": rendered.html,
                    "extra": dict(rendered.extra),
                }
            )
            outcomes.append(Outcome(d.id, DeliveryStatus.DELIVERED, "sandbox", f"sandbox-{d.id}"))
        await self.store.outbox_add(rows)
        return outcomes

    async def _record(self, outcomes: list[Outcome], channel: str) -> None:
        """Queue outcomes for the writer task (started when none is running); does not wait for the write."""
        self._pending.extend(outcomes)
        self._pending_counts.append((channel, len(outcomes)))
        self._unwritten[channel] = self._unwritten.get(channel, 0) + len(outcomes)
        # one writer gathers what arrives while it writes; another starts only beside a busy one
        # with a batch's worth waiting
        writers = [t for t in self._writers if not t.done()]
        if not writers or (len(writers) < self._max_writers and len(self._pending) >= COALESCE_ROWS):
            writers.append(asyncio.create_task(self._write(), name="burgerhub-outcomes"))
        self._writers = writers

    async def _write(self) -> None:
        try:
            if len(self._pending) < COALESCE_ROWS:
                # a per-recipient channel finishes one message at a time: gather a few milliseconds'
                # worth into one transaction rather than writing each on its own
                await asyncio.sleep(COALESCE_SECONDS)
            await self._flush()
        except Exception:
            # the rows stay leased; after the lease they are requeued and sent again (at-least-once)
            log.exception("writing delivery outcomes failed")

    async def _flush(self) -> None:
        """Write pending outcomes. Whatever arrives during a write goes into the next one, in bulk."""
        async with self._flush_lock:
            while self._pending:
                batch, self._pending = self._pending, []
                counts, self._pending_counts = self._pending_counts, []
                try:
                    if self.single_node:
                        await self.store.complete(batch)
                    else:  # only rows still leased to this process: a late write never undoes another's
                        await self.store.complete(batch, owner=self.owner)
                finally:  # written, or given up on (the rows stay leased and are requeued later)
                    for channel, n in counts:
                        self._unwritten[channel] -= n
                    self._written.set()


def _renders(view: ActionView, kind: str | None, seq: int) -> bool:
    """Whether ``view`` is recent enough for a row: a closing needs the ended action, an update
    (``seq`` = the action's version that queued it) that version or a later one."""
    if kind == MessageKind.END.value:
        return view.status == ActionStatus.ENDED
    if kind == MessageKind.UPDATE.value:
        return view.version >= seq
    return True


def claim_window(rt: ChannelRuntime, settings: EngineSettings) -> int:
    """How many rows one claim may take for a channel.

    Enough to keep every ``deliver`` slot busy twice over, and at least a few hundred so that a
    per-recipient channel does not pay one claim per handful of messages; never more than the
    channel's rate can send within a quarter of the lease, so claimed rows do not outlive it.
    """
    window = min(max(rt.batch_size * rt.concurrency * 2, MIN_CLAIM), settings.claim_size)
    if rt.limiter is not None:
        window = min(window, int(rt.limiter.rate * settings.lease_seconds / 4))
    return max(window, rt.batch_size, 1)


def _group(rows: list[LedgerRow], batch_size: int) -> list[list[LedgerRow]]:
    """Split claimed rows into batches that share one notice (action, kind, seq)."""
    groups: dict[tuple[str, str, int], list[LedgerRow]] = {}
    for r in rows:
        groups.setdefault((r.action_id, r.kind, r.seq), []).append(r)
    out = []
    for group in groups.values():
        for i in range(0, len(group), batch_size):
            out.append(group[i : i + batch_size])
    return out
