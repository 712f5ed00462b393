"""The bot's /metrics over HTTP after real commands: interactions by outcome, acknowledgement
latency, open jobs, engine retries, and no user text."""

from __future__ import annotations

import datetime as dt

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import METRICS, serve_metrics
from tests.e2e.processes import free_port

from .conftest import invoke
from .engine_standin import Plan
from .fakes import FakeInteraction

SECRET = "zebracorn effusion secret"


def scrape(port: int) -> tuple[str, dict[str, list]]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return text, {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(families: dict[str, list], family: str, name: str, **labels: str) -> float:
    return sum(s.value for s in families.get(family, []) if s.name == name and labels.items() <= s.labels.items())


def test_metrics_are_off_without_a_port():
    assert serve_metrics(None) is None


async def test_metrics_after_real_commands(engine, services):
    port = free_port()
    server = serve_metrics(port, host="127.0.0.1")
    METRICS.watch_queue(services.queue)
    try:
        _, before = scrape(port)
        # 1. a search that succeeds, acknowledged 0.3 s after Discord created it
        ok = FakeInteraction(services)
        ok.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=0.3)
        await invoke(services, "search", ok, query=SECRET, k=2)
        # 2. a search the engine refuses twice with 429 before answering: two retries
        engine.plan("/v1/search", *[Plan(status=429, code="busy", message="queue full", retry_after="0")] * 2)
        await invoke(services, "search", FakeInteraction(services, user_id=2), query=SECRET, k=2)
        # 3. a search that fails for good
        engine.plan("/v1/search", Plan(status=422, code="invalid_input", message="query: too long"))
        await invoke(services, "search", FakeInteraction(services, user_id=3), query=SECRET, k=2)
        text, after = scrape(port)
    finally:
        server.shutdown()

    def delta(family: str, name: str, **labels: str) -> float:
        return value(after, family, name, **labels) - value(before, family, name, **labels)

    assert delta("mirage_bot_interactions", "mirage_bot_interactions_total", command="search", outcome="ok") == 2
    assert delta("mirage_bot_interactions", "mirage_bot_interactions_total", command="search",
                 outcome="engine_error") == 1
    assert delta("mirage_bot_engine_retries", "mirage_bot_engine_retries_total", reason="busy") == 2
    assert delta("mirage_bot_ack_latency_seconds", "mirage_bot_ack_latency_seconds_count", command="search") == 1
    assert delta("mirage_bot_ack_latency_seconds", "mirage_bot_ack_latency_seconds_sum", command="search") >= 0.3
    assert value(after, "mirage_bot_open_jobs", "mirage_bot_open_jobs", state="running") == 0
    assert value(after, "mirage_bot_engine_concurrency", "mirage_bot_engine_concurrency") == services.queue.max_concurrent
    assert "zebracorn" not in text and "too long" not in text


def test_retry_reasons_outside_the_codes_we_define_are_folded():
    METRICS.retried("Weird Code: with user text")
    text = generate_latest(METRICS.registry).decode()
    families = {f.name: f.samples for f in text_string_to_metric_families(text)}
    assert value(families, "mirage_bot_engine_retries", "mirage_bot_engine_retries_total", reason="other") >= 1
    assert "Weird" not in text
