"""Readiness while loading, after loading and after a failed load; 503 from routes that need what is missing.

The model loaders are replaced at their module boundary (a blocking or failing `load_clip`); the
runtime, the app and the embedded atlas store are real.
"""

import threading
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from engine.api.app import create_app
from engine.models.base import WeightsNotFoundError
from engine.runtime import EngineRuntime
from tests.engine.pipelines.fakes import BagOfWordsClip

from .helpers import settings_for

IDS = SimpleNamespace(clip="fake-clip", llm="fake-llm", diffusion="fake-diffusion", lcm_lora=None)


@pytest.fixture
def loaders(monkeypatch):
    import engine.models.clip
    import engine.models.presets

    gate = threading.Event()
    state = {"error": None}

    def load_clip(model_id, *, device="auto", dtype="auto"):
        gate.wait(10)
        if state["error"]:
            raise state["error"]
        return BagOfWordsClip()

    monkeypatch.setattr(engine.models.presets, "model_ids_for", lambda settings: IDS)
    monkeypatch.setattr(engine.models.clip, "load_clip", load_clip)
    return gate, state


def _runtime(tmp_path):
    return EngineRuntime(settings_for(tmp_path, profile="real", enable_llm=False, enable_diffusion=False))


def test_readiness_says_what_is_loading_then_what_is_loaded(tmp_path, loaders):
    gate, _ = loaders
    runtime = _runtime(tmp_path)
    with TestClient(create_app(runtime)) as client:
        loading = client.get("/readyz")
        assert loading.status_code == 503 and loading.headers["retry-after"] == "5"
        body = loading.json()
        assert body["ready"] is False and body["missing"] == ["clip", "atlas"]
        assert body["detail"]["llm"] == "disabled: MIRAGE_ENABLE_LLM=false"
        assert body["error"]["code"] == "not_ready" and "clip: loading" in body["error"]["message"]

        busy = client.post("/v1/search", json={"query": "pneumothorax"})
        assert busy.status_code == 503
        assert busy.json()["error"]["message"].startswith("not ready: clip is still loading; atlas is ")

        gate.set()
        assert runtime.wait(10)
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["loaded"] == ["clip", "atlas"] and ready.json()["atlas_points"] == 0

        search = client.post("/v1/search", json={"query": "pneumothorax"})
        assert search.status_code == 200 and search.json()["hits"] == []
        generate = client.post("/v1/generate", json={"prompt": "x"})
        assert generate.status_code == 503
        assert generate.json()["error"]["message"] == (
            "not ready: diffusion is disabled (MIRAGE_ENABLE_DIFFUSION=false)"
        )


def test_a_failed_load_is_reported_with_its_error(tmp_path, loaders):
    gate, state = loaders
    state["error"] = WeightsNotFoundError("CLIP", "hf-hub:some/clip", ["/cache/hub"], "set HF_HUB_OFFLINE=0")
    gate.set()
    runtime = _runtime(tmp_path)
    runtime.load()
    ready = runtime.readiness()
    assert not ready.ready
    assert ready.detail["clip"] == (
        "failed: CLIP weights not found at /cache/hub for 'hf-hub:some/clip'. set HF_HUB_OFFLINE=0"
    )
    assert ready.detail["atlas"] == "failed: needs CLIP, which did not load"
    with TestClient(create_app(runtime)) as client:
        response = client.post("/v1/compare", json={"query": "a", "subtract": "b", "add": "c"})
    assert response.status_code == 503
    assert "clip is unavailable (CLIP weights not found at /cache/hub" in response.json()["error"]["message"]
    runtime.close()


def test_health_answers_while_loading(tmp_path, loaders):
    with TestClient(create_app(_runtime(tmp_path))) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        loaders[0].set()


def test_an_atlas_indexed_with_another_clip_model_is_refused_with_both_names(tmp_path, loaders):
    from engine.store.provenance import AtlasProvenance, read_provenance, record_provenance

    gate, _ = loaders
    gate.set()
    settings = settings_for(tmp_path, profile="real", enable_llm=False, enable_diffusion=False)
    record_provenance(settings, AtlasProvenance(clip_model="hf-hub:someone/other-clip", dim=64))
    runtime = EngineRuntime(settings)
    with TestClient(create_app(runtime)) as client:
        assert runtime.wait(30)
        body = client.get("/readyz").json()
        assert body["missing"] == ["atlas"]
        detail = body["detail"]["atlas"]
        assert "hf-hub:someone/other-clip" in detail and "fake-clip" in detail and "re-index" in detail
    # the record is left as it was: nothing was written into the other model's atlas
    assert read_provenance(settings).clip_model == "hf-hub:someone/other-clip"


def test_the_first_filled_atlas_records_which_clip_model_filled_it(tmp_path, loaders):
    from engine.store.base import AtlasPayload, AtlasRecord
    from engine.store.factory import open_store
    from engine.store.provenance import read_provenance

    gate, _ = loaders
    gate.set()
    settings = settings_for(tmp_path, profile="real", enable_llm=False, enable_diffusion=False)
    clip = BagOfWordsClip()
    store = open_store(settings, clip.dim)
    store.upsert([AtlasRecord(clip.encode_text(["chest x-ray"])[0], AtlasPayload("ROCO_00001", "chest x-ray"))])
    store.close()
    runtime = EngineRuntime(settings)
    runtime.start()
    assert runtime.wait(30) and runtime.readiness().ready
    runtime.close()
    assert read_provenance(settings).clip_model == "fake-clip"
