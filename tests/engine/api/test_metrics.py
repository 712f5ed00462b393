"""GET /metrics over a real socket, after real requests: the series an operator needs, and no user text."""

from __future__ import annotations

import threading
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from engine.api.app import create_app
from engine.batching.models import batched
from engine.runtime import EngineRuntime
from tests.engine.pipelines.fakes import BagOfWordsClip, NoiseDiffusion, ScriptedLLM, atlas_of

from .helpers import CAPTIONS, serving, settings_for, wait_until

SECRET_QUERY = "zebracorn pleural secret query"
SECRET_PROMPT = "unicornish cardiomegaly prompt"


def scrape(url: str) -> tuple[str, dict[str, list]]:
    """The raw exposition and its samples by metric family name."""
    text = httpx.get(f"{url}/metrics").text
    return text, {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(samples: list, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels`."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def test_metrics_after_real_requests_have_every_series_and_no_user_text(tmp_path):
    gate = threading.Event()
    clip = BagOfWordsClip()
    store = atlas_of(CAPTIONS, clip)
    runtime = EngineRuntime.from_components(
        settings_for(tmp_path, queue_size=1, gpu_workers=1, request_timeout_s=1.5),
        clip=batched("clip", clip, window_ms=1, max_size=4), store=store,
        llm=ScriptedLLM("effusion means fluid around the lung"), diffusion=NoiseDiffusion(gate=gate),
    )
    with serving(create_app(runtime)) as url:
        # 1. answered requests: a search (stages encode, retrieve, llm …), an atlas item, a 404, a 401-free 422
        assert httpx.post(f"{url}/v1/search", json={"query": SECRET_QUERY, "seed": 3}).status_code == 200
        assert httpx.get(f"{url}/v1/atlas/ROCO_00001").status_code == 200
        assert httpx.get(f"{url}/v1/atlas/ROCO_99999").status_code == 404
        assert httpx.post(f"{url}/v1/search", json={"query": ""}).status_code == 422

        # 2. a held generation fills the worker, the next one waits, the third is refused with 429
        results: list[int] = []
        threads = [
            threading.Thread(target=lambda: results.append(
                httpx.post(f"{url}/v1/generate", json={"prompt": SECRET_PROMPT, "seed": 1}, timeout=30).status_code
            ))
            for _ in range(2)
        ]
        threads[0].start()
        wait_until(lambda: runtime.diffusion.started.is_set())
        threads[1].start()
        wait_until(lambda: value(scrape(url)[1]["mirage_queue_depth"], "mirage_queue_depth") == 1)
        _, busy = scrape(url)
        assert value(busy["mirage_jobs_running"], "mirage_jobs_running") == 1
        refused = httpx.post(f"{url}/v1/generate", json={"prompt": SECRET_PROMPT})
        assert refused.status_code == 429
        for thread in threads:  # the held one times out (504) while the gate stays shut
            thread.join(20)
        gate.set()
        assert sorted(results)[-1] == 504

        # 3. the scrape
        text, families = scrape(url)

    requests = families["mirage_request_duration_seconds"]
    assert value(requests, "mirage_request_duration_seconds_count", route="/v1/search", status="200") == 1
    assert value(requests, "mirage_request_duration_seconds_count", route="/v1/search", status="422") == 1
    # the route template, never the raw path (the atlas id stays out of the labels)
    assert value(requests, "mirage_request_duration_seconds_count", route="/v1/atlas/{atlas_id}") == 2
    assert value(families["mirage_rejected_requests"], "mirage_rejected_requests_total", route="/v1/generate") == 1
    assert value(families["mirage_timed_out_requests"], "mirage_timed_out_requests_total", route="/v1/generate") >= 1
    stages = families["mirage_stage_duration_seconds"]
    for stage in ("encode_query", "retrieve", "llm", "total"):
        assert value(stages, "mirage_stage_duration_seconds_count", pipeline="search", stage=stage) == 1
    batch = families["mirage_batch_size"]
    assert value(batch, "mirage_batch_size_count", role="clip_text") >= 2  # the query and the enriched text
    assert value(families["mirage_batch_joined"], "mirage_batch_joined_total", role="clip_text") == 0
    assert value(families["mirage_ready"], "mirage_ready") == 1
    assert value(families["mirage_component_ready"], "mirage_component_ready", component="clip") == 1
    assert value(families["mirage_atlas_points"], "mirage_atlas_points") == len(CAPTIONS)
    assert "mirage_queue_workers" in families and "mirage_accepting" in families
    # no user text anywhere: not the query, the prompt, the LLM's words, nor an atlas id from a path
    for secret in ("zebracorn", "unicornish", "effusion means", "ROCO_99999", "ROCO_00001"):
        assert secret not in text


def test_metrics_need_no_token_and_count_refused_tokens_under_their_route(tmp_path):
    clip = BagOfWordsClip()
    runtime = EngineRuntime.from_components(
        settings_for(tmp_path, engine_token="a-real-secret-token-123"),
        clip=clip, store=atlas_of(CAPTIONS, clip), llm=ScriptedLLM("x"), diffusion=NoiseDiffusion(),
    )
    with serving(create_app(runtime)) as url:
        assert httpx.post(f"{url}/v1/search", json={"query": "x"}).status_code == 401
        assert httpx.get(f"{url}/no/such/path").status_code == 404
        time.sleep(0.05)
        text, families = scrape(url)
    requests = families["mirage_request_duration_seconds"]
    assert value(requests, "mirage_request_duration_seconds_count", route="/v1/search", status="401") == 1
    assert value(requests, "mirage_request_duration_seconds_count", route="unmatched", status="404") == 1
    assert "/no/such/path" not in text and "a-real-secret-token" not in text
