"""The bot's Prometheus metrics, served on MIRAGE_BOT_METRICS_PORT (off when unset).

- `mirage_bot_interactions_total{command, outcome}`: every command or button that reached a job,
  by how it ended (ok, denied, rejected, cancelled, engine_error, timeout, error).
- `mirage_bot_ack_latency_seconds{command}`: from Discord creating the interaction to our
  acknowledgement (Discord allows 3 s).
- `mirage_bot_engine_retries_total{reason}`: retries of engine calls, by the engine's error code.
- read at scrape time: `mirage_bot_open_jobs{state}` (waiting, running) and
  `mirage_bot_engine_concurrency` (jobs allowed to talk to the engine at once).
Labels are command names, outcomes and error codes from the code: never a user, a query or a token.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")  # error codes the engine and client define
OUTCOMES = ("ok", "denied", "rejected", "cancelled", "interrupted", "engine_error", "timeout", "error")
ACK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0)


class BotMetrics:
    """The bot's counters and histograms, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.interactions = Counter(
            "mirage_bot_interactions", "Commands and buttons that reached a job, by how they ended.",
            ["command", "outcome"], registry=self.registry,
        )
        self.ack = Histogram(
            "mirage_bot_ack_latency_seconds", "From Discord creating the interaction to our acknowledgement.",
            ["command"], buckets=ACK_BUCKETS, registry=self.registry,
        )
        self.retries = Counter(
            "mirage_bot_engine_retries", "Engine calls retried, by the engine's error code.",
            ["reason"], registry=self.registry,
        )
        self._queue: Any = None

    def finished(self, command: str, outcome: str) -> None:
        """One interaction ended with `outcome` (one of OUTCOMES)."""
        self.interactions.labels(command, outcome if outcome in OUTCOMES else "error").inc()

    def acknowledged(self, command: str, created_at: dt.datetime | None, now: dt.datetime | None = None) -> None:
        """The interaction created at `created_at` (Discord's clock) was acknowledged now."""
        if created_at is None:
            return
        now = now or dt.datetime.now(dt.UTC)
        self.ack.labels(command).observe(max(0.0, (now - created_at).total_seconds()))

    def retried(self, reason: str) -> None:
        """An engine call is retried because of `reason` (the engine's error code)."""
        self.retries.labels(reason if _CODE.match(reason or "") else "other").inc()

    def watch_queue(self, queue: Any) -> None:
        """Report `queue`'s open jobs at each scrape (the bot's JobQueue)."""
        if self._queue is None:
            self.registry.register(_QueueCollector(self))
        self._queue = queue


class _QueueCollector(Collector):
    def __init__(self, metrics: BotMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        queue = self.metrics._queue
        if queue is None:
            return
        jobs = GaugeMetricFamily("mirage_bot_open_jobs", "Jobs not yet finished, by state.", labels=["state"])
        running = sum(1 for job in queue.open_jobs() if job.state == "running")
        jobs.add_metric(["running"], running)
        jobs.add_metric(["waiting"], len(queue.open_jobs()) - running)
        yield jobs
        yield GaugeMetricFamily(
            "mirage_bot_engine_concurrency", "Jobs allowed to talk to the engine at once.", value=queue.max_concurrent
        )


METRICS = BotMetrics()  # the bot process's metrics; hooks in bot/flows/run.py and bot/engine_client.py


def serve_metrics(port: int | None, host: str = "0.0.0.0", metrics: BotMetrics = METRICS) -> Any:
    """Serve `metrics` over HTTP on `port` (GET /metrics) in a background thread; None when off."""
    if not port:
        return None
    server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    log.info("bot metrics on http://%s:%d/metrics", host, port)
    return server
