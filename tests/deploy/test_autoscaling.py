"""Autoscaling on the real backlog: the ScaledObject's query, run against real scrapes under a burst.

The cluster overlay scales the engines on every job waiting for a GPU, wherever it waits: inside the
bot (its JobQueue, `mirage_bot_open_jobs{state="waiting"}`) or in an engine's queue
(`mirage_queue_depth`). Here a real engine app (uvicorn, a diffusion model that holds every job until
released) serves a real bot JobQueue sized as the overlay sizes the bot; users arrive in two waves; the
engine's /metrics and the bot's registry are scraped, parsed with prometheus-client, labelled as the
ServiceMonitors would label them, and the rendered query's arithmetic is evaluated on them. What KEDA
would then ask for is ceil(value / threshold) replicas, between min and max.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import BotMetrics
from bot.queue import JobQueue
from tests.deploy.manifests import render_overlay, workload
from tests.deploy.rules import STARTUP_BUDGET_S

# `sum(<selector> or vector(0))` terms joined by `+`: the only shape this evaluator reads, on purpose
TERM = re.compile(r"^sum\((\w+)\{([^}]*)\}\s+or\s+vector\(0\)\)$")
NAMESPACE = "mirage"  # the label the ServiceMonitor's scrape adds to every series


def _env(doc: dict, container: int = 0) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in doc["spec"]["template"]["spec"]["containers"][container]["env"]}


def _overlay() -> dict:
    docs = render_overlay("cluster")
    scaled = next(d for d in docs if d["kind"] == "ScaledObject")
    (trigger,) = scaled["spec"]["triggers"]
    engine, bot = workload(docs, "mirage-engine"), workload(docs, "mirage-bot")
    return {
        "query": trigger["metadata"]["query"], "threshold": float(trigger["metadata"]["threshold"]),
        "min": scaled["spec"]["minReplicaCount"], "max": scaled["spec"]["maxReplicaCount"],
        "engine": engine, "workers": int(_env(engine)["MIRAGE_GPU_WORKERS"]),
        "queue_size": int(_env(engine)["MIRAGE_QUEUE_SIZE"]),
        "bot_max": int(_env(bot)["MIRAGE_ENGINE_MAX_CONCURRENT"]),
        "bot_refresh": float(_env(bot)["MIRAGE_ENGINE_CAPACITY_REFRESH_S"]),
    }


def evaluate(query: str, samples: list[tuple[str, dict[str, str], float]]) -> float:
    """The query's value over `samples` (name, labels, value); equality matchers only."""
    total = 0.0
    for term in (t.strip() for t in query.split(" + ")):
        match = TERM.match(" ".join(term.split()))
        assert match, f"the evaluator does not read {term!r}: extend it with the query"
        name, matchers = match.groups()
        wanted = dict(re.findall(r'(\w+)="([^"]*)"', matchers))
        total += sum(v for n, labels, v in samples if n == name and all(labels.get(k) == x for k, x in wanted.items()))
    return total


def scrape(text: str) -> list[tuple[str, dict[str, str], float]]:
    """A Prometheus text exposition as samples, with the namespace label the scrape adds."""
    return [(s.name, {**s.labels, "namespace": NAMESPACE}, s.value)
            for family in text_string_to_metric_families(text) for s in family.samples]


def test_the_overlay_numbers_fit_together() -> None:
    o = _overlay()
    assert "replicas" not in o["engine"]["spec"]  # KEDA owns it
    assert o["engine"]["spec"]["progressDeadlineSeconds"] > STARTUP_BUDGET_S + 150  # startup + a drain
    assert o["bot_refresh"] == 0  # the bot keeps the overlay's number instead of one pod's /readyz capacity
    # the bot sends what all replicas together can work on, and one pod can hold all of it (no 429)
    assert o["bot_max"] == o["workers"] * o["max"]
    assert o["workers"] + o["queue_size"] >= o["bot_max"]
    assert o["threshold"] == o["workers"]


@pytest.mark.timeout(120)
async def test_the_query_sees_the_backlog_in_the_bot_and_in_the_engine(tmp_path) -> None:
    from engine.api.app import create_app
    from tests.engine.api.helpers import fake_runtime, serving
    from tests.engine.pipelines.fakes import NoiseDiffusion

    o = _overlay()
    gate = threading.Event()  # every generation waits here: the GPUs are busy for the whole burst
    runtime = fake_runtime(tmp_path, diffusion=NoiseDiffusion(gate=gate), gpu_workers=o["workers"],
                           queue_size=o["queue_size"], request_timeout_s=110)
    app = create_app(runtime)
    bot_queue = JobQueue(max_concurrent=o["bot_max"], per_user_cap=1, cooldown_s=0)
    metrics = BotMetrics()
    metrics.watch_queue(bot_queue)

    def replicas(value: float) -> int:
        return max(o["min"], min(o["max"], math.ceil(value / o["threshold"])))

    with serving(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=100) as http:

            async def now() -> float:
                engine = (await http.get("/metrics")).text
                return evaluate(o["query"], scrape(engine) + scrape(generate_latest(metrics.registry).decode()))

            async def settle(running: int, waiting: int) -> None:
                queue = app.state.work_queue
                for _ in range(400):
                    if queue.running == running and queue.waiting == waiting:
                        return
                    await asyncio.sleep(0.025)
                raise AssertionError(f"engine: {queue.running} running, {queue.waiting} waiting")

            async def user(n: int) -> int:
                job = bot_queue.submit(n, "generate")
                answer = await bot_queue.run(job, lambda: http.post("/v1/generate", json={"prompt": f"study {n}"}))
                return answer.status_code

            assert await now() == 0 and replicas(0) == o["min"]
            w, first, second = o["workers"], 40, 20
            tasks = [asyncio.create_task(user(n)) for n in range(first)]
            # wave 1 (40 < the bot's 48): all sent; 16 run, 24 wait in the engine's queue
            await settle(running=w, waiting=first - w)
            assert await now() == first - w == 24 and replicas(24) == 2
            # wave 2: 60 in all; the bot sends 48 (32 wait in the engine), 12 wait in the bot
            tasks += [asyncio.create_task(user(n)) for n in range(first, first + second)]
            await settle(running=w, waiting=o["bot_max"] - w)
            value = await now()
            assert value == (first + second) - w == 44 and replicas(value) == 3
            gate.set()
            statuses = await asyncio.gather(*tasks)
    assert statuses == [200] * (first + second)  # nothing was refused (429) on the way
    # afterwards nothing waits in the bot any more: the query reads 0 again
    assert evaluate(o["query"], scrape(generate_latest(metrics.registry).decode())) == 0
