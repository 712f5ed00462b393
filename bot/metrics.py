"""The bot's Prometheus metrics, served on MIRAGE_BOT_METRICS_PORT (off when unset).

- `mirage_bot_interactions_total{command, outcome}`: every command or button that reached a job,
  by how it ended (ok, denied, rejected, cancelled, engine_error, timeout, error).
- `mirage_bot_ack_latency_seconds{command}`: from Discord creating the interaction to our
  acknowledgement (Discord allows 3 s).
- `mirage_bot_engine_retries_total{reason}`: retries of engine calls, by the engine's error code.
- read at scrape time: `mirage_bot_open_jobs{state}` (waiting; running, holding an engine slot; posting,
  its engine work done and its slot freed, its answer still on its way to Discord) and
  `mirage_bot_engine_concurrency` (jobs allowed to talk to the engine at once).
Labels are command names, outcomes and error codes from the code: never a user, a query or a token.

The same port answers GET /healthz, the bot's liveness: 200 while the bot is starting, waiting for the
single-instance lock (bot/lock.py) or hearing from its Discord gateway; 503 once the gateway has sent
nothing (not even a heartbeat acknowledgement) for STUCK_AFTER_S seconds, or the bot has been
disconnected that long. A probe that restarts it then is the cure.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
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
        open_jobs = queue.open_jobs()
        started = [job for job in open_jobs if job.state == "running"]
        posting = sum(1 for job in started if job.slot_freed)
        jobs.add_metric(["running"], len(started) - posting)
        jobs.add_metric(["posting"], posting)
        jobs.add_metric(["waiting"], len(open_jobs) - len(started))
        yield jobs
        yield GaugeMetricFamily(
            "mirage_bot_engine_concurrency", "Jobs allowed to talk to the engine at once.", value=queue.max_concurrent
        )


METRICS = BotMetrics()  # the bot process's metrics; hooks in bot/flows/run.py and bot/engine_client.py
STUCK_AFTER_S = 90.0  # a gateway silent this long (heartbeats are every ~41 s) is stuck
STARTING_S = 180.0  # before the first connection: time to open the database and log in


class Liveness:
    """Whether the bot process is still doing its job; read by GET /healthz from the server's thread."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock  # discord.py stamps gateway messages with time.perf_counter
        self.waiting_for_lock = False
        self.client: Any = None  # the discord.Client, once it runs
        self._down_since = clock()  # not connected since (the process start, at first)
        self._connected_once = False

    def check(self) -> tuple[bool, str]:
        """(alive, why) from what the gateway last did."""
        now = self.clock()
        if self.waiting_for_lock:
            self._down_since = now  # the wait for the lock is not time spent failing to connect
            return True, "waiting for the single-instance lock"
        heard = self._last_heard()
        if heard is not None:
            self._connected_once, self._down_since = True, now
            if now - heard > STUCK_AFTER_S:
                return False, f"nothing from the Discord gateway for {now - heard:.0f} s (stuck)"
            return True, "connected"
        limit = STUCK_AFTER_S if self._connected_once else STARTING_S
        if now - self._down_since > limit:
            return False, f"not connected to the Discord gateway for {now - self._down_since:.0f} s"
        return True, "connecting to the Discord gateway"

    def _last_heard(self) -> float | None:
        """When the gateway last sent anything (heartbeat acks included); None while not connected."""
        if self.client is None or self.client.is_closed():
            return None
        keep_alive = getattr(getattr(self.client, "ws", None), "_keep_alive", None)  # per connection
        last = getattr(keep_alive, "_last_recv", None)
        return last if isinstance(last, float) else None


LIVENESS = Liveness()


def _app(metrics: BotMetrics, liveness: Liveness) -> Callable[..., Iterable[bytes]]:
    scrape = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            alive, why = liveness.check()
            start_response("200 OK" if alive else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [f"{'ok' if alive else 'stuck'}: {why}\n".encode()]
        return scrape(environ, start_response)

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        """Scrapes and probes every few seconds: not worth a log line each."""


class _Server(WSGIServer):
    daemon_threads = True


_SERVERS: dict[int, WSGIServer] = {}


def serve_metrics(
    port: int | None, host: str = "0.0.0.0", metrics: BotMetrics = METRICS, liveness: Liveness = LIVENESS
) -> Any:
    """Serve GET /metrics and GET /healthz on `port` in a background thread; None when off. Started early
    by `python -m bot` (so a bot waiting for the lock answers its probe) and again by the client: the
    second call returns the running server."""
    if not port:
        return None
    if port in _SERVERS:
        return _SERVERS[port]
    server = make_server(host, port, _app(metrics, liveness), server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="bot-metrics", daemon=True).start()
    _SERVERS[port] = server
    log.info("bot metrics on http://%s:%d/metrics, liveness on /healthz", host, port)
    return server


def stop_serving(port: int | None) -> None:
    """Stop the server on `port`, if one runs."""
    server = _SERVERS.pop(port, None) if port else None
    if server is not None:
        server.shutdown()
        server.server_close()
