"""Prometheus metrics, one registry per hub (no globals, so tests never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class HubMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "burgerhub_deliveries_total", "Delivery attempts by outcome", ["channel", "kind", "status"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "burgerhub_deliver_seconds", "Time a channel took to deliver one batch", ["channel"],
            registry=self.registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.actions = Counter(
            "burgerhub_actions_total", "Lifecycle events", ["event", "type", "urgency"], registry=self.registry
        )
        self.tips = Counter("burgerhub_tips_total", "Tips received", ["channel"], registry=self.registry)
        self.participants = Gauge("burgerhub_participants", "Registered participants", registry=self.registry)
        self.channel_up = Gauge(
            "burgerhub_channel_up", "1 if a channel is running (sandbox or real)", ["channel", "mode"],
            registry=self.registry,
        )

    def watch_clock(self, offset) -> None:
        """Export ``offset()`` (this machine's clock less the database server's, seconds) as a gauge:
        on a cluster, alert when it leaves a second or two (hubs judge each other by their clocks)."""
        gauge = Gauge(
            "burgerhub_clock_offset_seconds", "This machine's clock less the database server's, at the last heartbeat",
            registry=self.registry,
        )
        gauge.set_function(lambda: offset() or 0.0)

    def observe_batch(self, channel: str, kind: str, seconds: float, outcomes) -> None:
        self.batch_seconds.labels(channel).observe(seconds)
        counts: dict[str, int] = {}
        for o in outcomes:
            status = "retry" if o.retry_at is not None else o.status
            counts[status] = counts.get(status, 0) + 1
        for status, n in counts.items():
            self.deliveries.labels(channel, kind, status).inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)
