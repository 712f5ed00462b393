"""Prometheus metrics at GET /metrics: what an operator asks of a model server.

- `mirage_request_duration_seconds{method, route, status}`: every HTTP answer, by route *template*
  (`/v1/atlas/{atlas_id}`, never the raw path) and status; `mirage_rejected_requests_total` (429)
  and `mirage_timed_out_requests_total` (504) by route.
- `mirage_stage_duration_seconds{pipeline, stage}`: the pipelines' own timings (encode, retrieve,
  llm, diffusion, rerank …), taken from each result's `timings_ms`.
- read at scrape time: `mirage_queue_depth` (jobs waiting for a worker; the autoscaler's trigger),
  `mirage_jobs_running`, `mirage_queue_workers`, `mirage_jobs_total{outcome}`, `mirage_batch_size{role}`
  (how many calls shared each forward pass), `mirage_batch_joined_total{role}` (LLM rows that joined a
  running generation), `mirage_batch_waiting{role}`, `mirage_ready`,
  `mirage_accepting`, `mirage_component_ready{component}`, `mirage_component_state{component, state}`
  (1 for the state it is in: pending, loading, loaded, failed, disabled), `mirage_route_ready{family}`
  (search, ask, generate, embed: 1 when the family can answer, degraded included), `mirage_atlas_points`.
- `mirage_queue_wait_seconds`: from a job's submission to a worker starting it (the alerts' p95).
Labels hold only route templates, status codes and fixed names from the code: never a query, a
prompt or a token. Each app has its own registry, so several apps can live in one process.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.runtime import BATCHED_ROLES

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
UNMATCHED = "unmatched"  # any path no route knows: one label value, whatever was asked
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # stage names come from code; anything else is "other"
logger = logging.getLogger(__name__)


class EngineMetrics:
    """The event metrics of one app (observed as requests and pipelines finish)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "mirage_request_duration_seconds", "HTTP request latency, by route template and status.",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.stages = Histogram(
            "mirage_stage_duration_seconds", "Time in one pipeline stage (the pipelines' own timings).",
            ["pipeline", "stage"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.rejected = Counter(
            "mirage_rejected_requests", "Requests refused with 429 because the model queue was full.",
            ["route"], registry=self.registry,
        )
        self.queue_wait = Histogram(
            "mirage_queue_wait_seconds", "From a job's submission to a pipeline worker starting it.",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.timeouts = Counter(
            "mirage_timed_out_requests", "Requests answered 504: no result within MIRAGE_REQUEST_TIMEOUT_S.",
            ["route"], registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One finished HTTP answer."""
        self.requests.labels(method, route, str(status)).observe(seconds)
        if status == 429:
            self.rejected.labels(route).inc()
        elif status == 504:
            self.timeouts.labels(route).inc()

    def observe_result(self, result: Any) -> None:
        """A pipeline result's `timings_ms` as stage durations (nothing else of the result is read)."""
        timings = getattr(result, "timings_ms", None)
        if not isinstance(timings, dict):
            return
        pipeline = _safe_name(type(result).__name__.removesuffix("Result").lower())
        for stage, ms in timings.items():
            if isinstance(ms, int | float):
                self.stages.labels(pipeline, _safe_name(str(stage))).observe(ms / 1000.0)


class StateCollector(Collector):
    """Gauges read from the queue, the batchers and the runtime at each scrape."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        """Queue, batch and readiness series, as they are now."""
        queue, runtime = self.app.state.work_queue, self.app.state.runtime
        yield GaugeMetricFamily("mirage_queue_depth", "Model jobs waiting for a worker.", value=queue.waiting)
        yield GaugeMetricFamily("mirage_jobs_running", "Model jobs running now.", value=queue.running)
        yield GaugeMetricFamily("mirage_queue_workers", "Pipelines that can run at once.", value=queue.workers)
        yield GaugeMetricFamily(
            "mirage_accepting", "1 while the engine takes new work (0 while draining).",
            value=int(queue.accepting),
        )
        jobs = CounterMetricFamily("mirage_jobs", "Model jobs finished, by outcome.", labels=["outcome"])
        for outcome in ("completed", "failed", "dropped"):
            jobs.add_metric([outcome], getattr(queue, outcome))
        yield jobs
        yield from self._batches(runtime)
        yield from self._readiness(runtime)

    @staticmethod
    def _batches(runtime: Any) -> Iterator[Metric]:
        sizes = HistogramMetricFamily(
            "mirage_batch_size", "Calls that shared one forward pass, by batcher role.", labels=["role"]
        )
        waiting = GaugeMetricFamily("mirage_batch_waiting", "Calls waiting for a batch.", labels=["role"])
        joined = CounterMetricFamily(
            "mirage_batch_joined", "Calls that joined a batch already running (LLM rows between tokens).",
            labels=["role"],
        )
        for name in BATCHED_ROLES:
            for batcher in getattr(getattr(runtime, name, None), "batchers", []):
                counts = dict(batcher.sizes)
                buckets = [(str(b), sum(n for size, n in counts.items() if size <= b)) for b in BATCH_BUCKETS]
                buckets.append(("+Inf", sum(counts.values())))
                sizes.add_metric([batcher.role], buckets, sum_value=sum(s * n for s, n in counts.items()))
                waiting.add_metric([batcher.role], batcher.waiting)
                joined.add_metric([batcher.role], batcher.joined)
        yield sizes
        yield waiting
        yield joined

    @staticmethod
    def _readiness(runtime: Any) -> Iterator[Metric]:
        ready = runtime.readiness()
        yield GaugeMetricFamily("mirage_ready", "1 when the engine can answer.", value=int(ready.ready))
        components = GaugeMetricFamily(
            "mirage_component_ready", "1 when the component is loaded.", labels=["component"]
        )
        states = GaugeMetricFamily(
            "mirage_component_state", "1 for the state each component is in.", labels=["component", "state"]
        )
        for name in ready.detail:
            components.add_metric([name], int(name in ready.loaded))
            now = ready.detail[name].split(":", 1)[0]
            for state in ("pending", "loading", "loaded", "failed", "disabled"):
                states.add_metric([name, state], int(state == now))
        yield components
        yield states
        routes = GaugeMetricFamily(
            "mirage_route_ready", "1 when the route family can answer (degraded included).", labels=["family"]
        )
        for family, word in ready.routes.items():
            routes.add_metric([family], int(word.startswith("ready")))
        yield routes
        if ready.atlas_points is not None:
            yield GaugeMetricFamily("mirage_atlas_points", "Images in the atlas.", value=ready.atlas_points)


class RouteTemplates:
    """A request path → the template of the route serving it (`/v1/atlas/{atlas_id}`), or "unmatched".

    Built once, from the OpenAPI paths (every /v1 route with its prefix) and the app's own routes.
    Templates without parameters are tried first, so `/v1/search/image` never reads as `/v1/search/{x}`.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None

    def of(self, path: str) -> str:
        """The template matching `path`."""
        if self._compiled is None:
            self._compiled = self._compile()
        return next((template for regex, template in self._compiled if regex.match(path)), UNMATCHED)

    def _compile(self) -> list[tuple[re.Pattern[str], str]]:
        try:
            templates = set(self.app.openapi().get("paths", {}))
        except Exception:  # a schema that cannot be built must not break requests: fewer labels instead
            logger.exception("no OpenAPI paths for the metrics' route labels")
            templates = set()
        templates |= {path for route in self.app.routes if isinstance(path := getattr(route, "path", None), str)}
        ordered = sorted(templates, key=lambda t: ("{" in t, -len(t), t))
        return [(compile_path(template)[0], template) for template in ordered if template.startswith("/")]


class MetricsMiddleware:
    """Times every HTTP answer (streams until their last byte) and labels it with its route template."""

    def __init__(self, app: ASGIApp, *, metrics: EngineMetrics, templates: RouteTemplates) -> None:
        self.app, self.metrics, self.templates = app, metrics, templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before starting a response

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = self.templates.of(scope["path"])
            self.metrics.observe_request(scope["method"], route, status, time.perf_counter() - started)


def install_metrics(app: FastAPI) -> EngineMetrics:
    """Add GET /metrics, the request timer and the scrape-time collector to `app`."""
    metrics = EngineMetrics()
    metrics.registry.register(StateCollector(app))
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics, templates=RouteTemplates(app))

    @app.get("/metrics", include_in_schema=False)
    async def scrape(_: Request) -> Response:
        """The Prometheus text exposition of this engine's metrics (no token: no user data in it)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return metrics


def timed(app: FastAPI, work: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`work`, recording its result's stage timings when it returns (a no-op without metrics)."""
    metrics: EngineMetrics | None = getattr(app.state, "metrics", None)
    if metrics is None:
        return work
    submitted = time.perf_counter()  # called as the job is submitted (engine/api/work.py)

    def run(job: Any) -> Any:
        metrics.queue_wait.observe(time.perf_counter() - submitted)
        result = work(job)
        metrics.observe_result(result)
        return result

    return run


def _safe_name(name: str) -> str:
    return name if _NAME.match(name) else "other"
