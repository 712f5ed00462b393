"""Readiness while loading, after loading and after a failed load; 503 from routes that need what is missing.

The model loaders are replaced at their module boundary (a blocking or failing `load_clip`); the
runtime, the app and the embedded atlas store are real.
"""

import re
import threading

import pytest
from fastapi.testclient import TestClient

from engine.api.app import create_app
from engine.models.base import WeightsNotFoundError
from engine.runtime import EngineRuntime
from engine.store.base import AtlasPayload, AtlasRecord
from tests.engine.pipelines.fakes import BagOfWordsClip

from .helpers import FAKE_MODEL_IDS, settings_for


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

    monkeypatch.setattr(engine.models.presets, "model_ids_for", lambda settings: FAKE_MODEL_IDS)
    monkeypatch.setattr(engine.models.clip, "load_clip", load_clip)
    return gate, state


def _poll(client, done, *, timeout_s: float = 10.0):
    """GET /readyz until `done(response)` (the atlas watcher looks every ATLAS_POLL_S seconds)."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get("/readyz")
        if done(response) or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def quick_atlas_watch(monkeypatch):
    import engine.loading

    monkeypatch.setattr(engine.loading, "ATLAS_POLL_S", 0.05)


def _runtime(tmp_path, **overrides):
    return EngineRuntime(settings_for(tmp_path, profile="real", enable_llm=False, enable_diffusion=False, **overrides))


def test_readiness_says_what_is_loading_then_what_is_loaded(tmp_path, loaders):
    gate, _ = loaders
    runtime = _runtime(tmp_path, retry_after_s=9)
    with TestClient(create_app(runtime)) as client:
        loading = client.get("/readyz")
        assert loading.status_code == 503 and loading.headers["retry-after"] == "9"  # MIRAGE_RETRY_AFTER_S
        body = loading.json()
        assert body["ready"] is False and body["missing"] == ["clip", "atlas"]
        assert body["detail"]["llm"] == "disabled: MIRAGE_ENABLE_LLM=false"
        assert body["error"]["code"] == "not_ready" and body["error"]["retryable"] is True
        assert re.search(r"clip: (pending|loading)", body["error"]["message"])  # the loader may not have begun

        busy = client.post("/v1/search", json={"query": "pneumothorax"})
        assert busy.status_code == 503 and busy.json()["error"]["retryable"] is True
        assert busy.headers["retry-after"] == "9"
        assert busy.json()["error"]["message"].startswith("not ready: clip is still loading; atlas is ")

        gate.set()
        assert runtime.wait(10)
        # everything loaded, but an atlas of 0 images answers no search: not ready, and it says what to do
        empty = client.get("/readyz")
        assert empty.status_code == 503, empty.text
        assert empty.json()["loaded"] == ["clip", "atlas"] and empty.json()["atlas_points"] == 0
        assert empty.json()["routes"]["search"] == "not ready: the atlas holds no images (run `engine index`)"
        assert empty.json()["routes"]["embed"] == "ready"
        assert empty.json()["error"]["retryable"] is True  # the engine takes the images up by itself

        clip = BagOfWordsClip()
        runtime.store.upsert([AtlasRecord(clip.encode_text(["pneumothorax"])[0], AtlasPayload("ROCO_00001", "pneumothorax"))])
        ready = _poll(client, lambda r: r.status_code == 200)  # the atlas watcher counts again, no restart
        assert ready.json()["atlas_points"] == 1 and ready.json()["routes"]["search"] == "ready"

        search = client.post("/v1/search", json={"query": "pneumothorax"})
        assert search.status_code == 200 and [h["id"] for h in search.json()["hits"]] == ["ROCO_00001"]
        # switched off: no 503 (that means "retry"), and the body says a retry cannot help
        generate = client.post("/v1/generate", json={"prompt": "x"})
        assert generate.status_code == 501 and "retry-after" not in generate.headers
        assert generate.json()["error"] == {
            "code": "unavailable", "retryable": False,
            "message": "not ready: diffusion is disabled (MIRAGE_ENABLE_DIFFUSION=false)",
        }


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
        public = client.get("/readyz")
        private = client.get("/v1/status")
    assert response.status_code == 501 and response.json()["error"]["retryable"] is False
    assert "clip is unavailable (CLIP weights not found at /cache/hub" in response.json()["error"]["message"]
    # the unauthenticated probe says what failed, never why (no exception text, no paths) ...
    assert public.status_code == 503 and "/cache/hub" not in public.text and "hf-hub" not in public.text
    assert public.json()["detail"]["clip"].startswith("failed")
    assert public.json()["error"]["retryable"] is False  # a failed load stays failed
    # ... which the operator's route does
    assert private.status_code == 200 and "CLIP weights not found at /cache/hub" in private.json()["detail"]["clip"]
    runtime.close()


def test_health_answers_while_loading(tmp_path, loaders):
    with TestClient(create_app(_runtime(tmp_path))) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        loaders[0].set()


def test_readyz_never_waits_for_the_store(tmp_path):
    import time

    from .helpers import fake_runtime

    runtime = fake_runtime(tmp_path)
    store = runtime.store
    slow = threading.Event()

    def stuck(*args, **kwargs):  # a Qdrant server that stopped answering
        slow.wait(5)
        return 0

    store.count = stuck
    store.retrieve = stuck
    with TestClient(create_app(runtime)) as client:
        started = time.monotonic()
        for _ in range(5):
            assert client.get("/readyz").status_code == 200
        assert time.monotonic() - started < 1.0
    slow.set()
