"""The runtime: search degrades instead of failing without its LLM, readiness never touches the
store, and closing is safe at any moment.

The model loaders are replaced at their module boundary (a bag-of-words CLIP, an LLM whose load
blocks or fails); runtime, loading, the app and the embedded atlas are real.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine.api.app import create_app
from engine.models.base import WeightsNotFoundError
from engine.runtime import EngineRuntime, NotReady
from engine.store.base import AtlasPayload, AtlasRecord
from engine.store.factory import open_store
from tests.engine.api.helpers import CAPTIONS, settings_for
from tests.engine.pipelines.fakes import BagOfWordsClip, ScriptedLLM

IDS = SimpleNamespace(clip="fake-clip", llm="fake-llm", diffusion="fake-diffusion", lcm_lora=None)


@pytest.fixture
def models(monkeypatch):
    """Fake loaders: CLIP loads at once; the LLM waits for `llm_gate`, then raises `llm_error` if set."""
    import engine.models.clip
    import engine.models.llm
    import engine.models.presets

    state = SimpleNamespace(llm_gate=threading.Event(), clip_gate=threading.Event(), llm_error=None)
    state.clip_gate.set()

    def load_clip(model_id, **kwargs):
        state.clip_gate.wait(20)
        return BagOfWordsClip()

    def load_llm(model_id, **kwargs):
        state.llm_gate.wait(20)
        if state.llm_error is not None:
            raise state.llm_error
        return ScriptedLLM("pneumothorax with visible pleural line")

    monkeypatch.setattr(engine.models.presets, "model_ids_for", lambda settings: IDS)
    monkeypatch.setattr(engine.models.clip, "load_clip", load_clip)
    monkeypatch.setattr(engine.models.llm, "load_llm", load_llm)
    return state


@pytest.fixture
def settings(tmp_path):
    """Real profile, LLM on, diffusion off, an embedded atlas holding the four CAPTIONS."""
    settings = settings_for(tmp_path, profile="real", enable_llm=True, enable_diffusion=False, batch_max=1)
    clip = BagOfWordsClip()
    vectors = clip.encode_text(list(CAPTIONS.values()))
    with open_store(settings, clip.dim) as atlas:
        atlas.upsert([AtlasRecord(v, AtlasPayload(i, c)) for (i, c), v in zip(CAPTIONS.items(), vectors, strict=True)])
    return settings


def _search(client: TestClient) -> dict:
    response = client.post("/v1/search", json={"query": "pleural line pneumothorax", "k": 3})
    assert response.status_code == 200, response.text
    return response.json()


def test_when_the_llm_fails_to_load_search_still_answers_with_its_hits(settings, models):
    models.llm_error = WeightsNotFoundError("LLM", "databricks/dolly-v2-3b", ["/root/.cache/hub"], "offline")
    models.llm_gate.set()
    runtime = EngineRuntime(settings)
    with TestClient(create_app(runtime)) as client:
        assert runtime.wait(30)
        ready = runtime.readiness()
        assert ready.ready and ready.missing == ["llm"]  # serving, degraded: not a reason to hold traffic

        body = _search(client)
        assert [h["id"] for h in body["hits"]][0] == "ROCO_00002"
        assert body["best"]["id"] == body["hits"][0]["id"] and body["enriched"] is None
        assert any("explanation is unavailable: the LLM failed to load" in n for n in body["notes"])
        assert "/root/.cache" not in str(body["notes"])  # the why is in the log, not in answers

        # a follow-up says the same why, and still shows its sources' captions
        ask = client.post("/v1/ask", json={"question": "Why is it dark?", "context_ids": ["ROCO_00002"], "seed": 1})
        assert ask.status_code == 200, ask.text
        assert any("no answer from the LLM: the LLM failed to load" in n for n in ask.json()["notes"])
    runtime.close()


def test_while_the_llm_is_still_loading_search_answers_and_says_so(settings, models):
    runtime = EngineRuntime(settings)
    with TestClient(create_app(runtime)) as client:
        try:
            for _ in range(200):  # CLIP and the atlas load first
                if runtime.parts["atlas"].status == "loaded":
                    break
                runtime.wait(0.05)
            assert not runtime.readiness().ready  # still loading: a probe says "retry"
            body = _search(client)
            assert body["best"]["id"] == body["hits"][0]["id"] and body["enriched"] is None
            assert any("the LLM is still loading" in n for n in body["notes"])
        finally:
            models.llm_gate.set()
        assert runtime.wait(30) and runtime.readiness().ready
        body = _search(client)
        assert body["enriched"] == "pneumothorax with visible pleural line" and body["notes"] == []
    runtime.close()


def test_a_component_still_loading_is_retryable_and_a_failed_one_is_not(settings, models):
    runtime = EngineRuntime(settings)
    runtime.start()
    with pytest.raises(NotReady) as loading:
        runtime.require("llm")
    assert loading.value.retryable and "llm is" in str(loading.value)
    models.llm_error = RuntimeError("out of memory")
    models.llm_gate.set()
    assert runtime.wait(30)
    with pytest.raises(NotReady, match=r"llm is unavailable \(out of memory\)") as failed:
        runtime.require("llm")
    assert not failed.value.retryable
    runtime.close()


def test_readiness_reports_the_count_from_load_time_and_never_asks_the_store(settings, models):
    models.llm_gate.set()
    runtime = EngineRuntime(settings)
    runtime.load()
    assert runtime.readiness().atlas_points == 4

    def no_store_io(**kwargs):
        raise AssertionError("readiness must not count the store")

    original_count = runtime.store.count
    runtime.store.count = no_store_io  # a Qdrant server would make this an HTTP call per probe
    assert runtime.readiness().atlas_points == 4
    runtime.store.count = original_count

    clip = BagOfWordsClip()
    runtime.store.upsert([AtlasRecord(clip.encode_text(["rib fracture"])[0], AtlasPayload("ROCO_00009", "rib fracture"))])
    assert runtime.refresh_atlas_count() == 5 and runtime.readiness().atlas_points == 5
    runtime.close()


def test_close_is_idempotent_and_safe_after_loading(settings, models):
    models.llm_gate.set()
    runtime = EngineRuntime(settings)
    runtime.load()
    store = runtime.store
    runtime.close()
    runtime.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.count()


def test_close_while_loading_leaves_no_atlas_open(settings, models):
    models.clip_gate.clear()
    models.llm_gate.set()
    runtime = EngineRuntime(settings)
    runtime.start()
    runtime.close()  # the loader is still waiting for CLIP
    models.clip_gate.set()
    assert runtime.wait(30)
    assert runtime.store is None
    detail = runtime.readiness().detail
    assert all("shutting down" in detail[name] for name in ("clip", "atlas", "llm"))  # nothing more loaded
    with open_store(settings, BagOfWordsClip.dim) as again:  # the files were released
        assert again.count() == 4


@pytest.mark.slow
@pytest.mark.parametrize(("diffusion_batch_max", "per_pass"), [(None, {1}), (8, {3})])
def test_diffusion_on_the_cpu_runs_one_image_per_loop_unless_told_otherwise(
    tmp_path, models, monkeypatch, tiny_diffusion, diffusion_batch_max, per_pass
):
    """MIRAGE_DIFFUSION_BATCH_MAX unset on a CPU engine: concurrent generations never share a
    denoising loop (compute-bound there, bench/README.md); set, they do. Each keeps its seed's picture."""
    import engine.models.diffusion
    from tests.engine.batching.helpers import forward_hook, together

    monkeypatch.setattr(engine.models.diffusion, "load_diffusion", lambda model_id, **kwargs: tiny_diffusion)
    runtime = EngineRuntime(settings_for(
        tmp_path, profile="real", enable_llm=False, enable_diffusion=True, batch_max=8,
        diffusion_batch_max=diffusion_batch_max, batch_window_ms=300,
    ))
    images_per_pass: list[int] = []
    try:
        runtime.start()
        assert runtime.wait(30) and runtime.diffusion is not None
        with forward_hook(tiny_diffusion.pipe.unet, lambda _m, args, kwargs, _o: images_per_pass.append(
                (args[0] if args else kwargs["sample"]).shape[0])):
            got = together([
                lambda s=s: runtime.diffusion.generate("axial CT", seed=s, steps=2, guidance=1.0) for s in (1, 2, 3)
            ])
    finally:
        runtime.close()
    assert set(images_per_pass) == per_pass  # guidance 1: no unconditional half, one row per image
    alone = [tiny_diffusion.generate("axial CT", seed=s, steps=2, guidance=1.0) for s in (1, 2, 3)]
    for image, expected in zip(got, alone, strict=True):
        assert np.abs(np.asarray(image, np.int16) - np.asarray(expected, np.int16)).max() <= 2
