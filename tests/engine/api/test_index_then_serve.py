"""Index, then serve: on a Qdrant server the engine never creates a collection.

With no atlas on the server the engine is ready for nothing that needs one, says "no atlas: run
`engine index`" (/readyz, /v1/status, the routes' 503), leaves the server untouched, and takes the
atlas up once `engine index`'s alias appears, without a restart. The model loaders are replaced at
their module boundary (a bag-of-words CLIP); runtime, loading, the app, the server store and the
versioned writer's alias switch are real (a shared qdrant-client `:memory:` stands in for the server).
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from engine.api.app import create_app
from engine.runtime import EngineRuntime
from engine.store.base import AtlasPayload, AtlasRecord
from engine.store.client import ClientStore
from engine.store.provenance import AtlasProvenance, record_provenance
from engine.store.versions import switch_alias
from tests.engine.pipelines.fakes import BagOfWordsClip
from tests.engine.store.conftest import SERVER_URL, stand_in_server

from .helpers import FAKE_MODEL_IDS, settings_for

pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")


@pytest.fixture
def server(monkeypatch):
    import engine.loading
    import engine.models.clip
    import engine.models.presets

    monkeypatch.setattr(engine.models.presets, "model_ids_for", lambda settings: FAKE_MODEL_IDS)
    monkeypatch.setattr(engine.models.clip, "load_clip", lambda model_id, **kw: BagOfWordsClip())
    monkeypatch.setattr(engine.loading, "ATLAS_POLL_S", 0.05)
    return stand_in_server(monkeypatch)


def _until(check, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


@pytest.mark.parametrize("profile", ["real", "tiny"])
def test_without_an_atlas_the_engine_waits_for_engine_index_and_creates_nothing(tmp_path, server, profile):
    settings = settings_for(tmp_path, profile=profile, qdrant_url=SERVER_URL, collection="roco",
                            enable_llm=False, enable_diffusion=False)
    runtime = EngineRuntime(settings)
    with TestClient(create_app(runtime)) as client:
        assert runtime.wait(30)
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert ready.json()["detail"]["atlas"] == "loading: no atlas: run `engine index`"
        assert ready.json()["routes"]["search"] == "not ready: no atlas: run `engine index`"
        assert ready.json()["error"]["retryable"] is True
        status = client.get("/v1/status").json()
        assert status["detail"]["atlas"] == "loading: no atlas: run `engine index`"
        search = client.post("/v1/search", json={"query": "pneumothorax"})
        assert search.status_code == 503
        assert "atlas is still loading (no atlas: run `engine index`)" in search.json()["error"]["message"]
        assert client.post("/v1/embed", json={"texts": ["x"]}).status_code != 503  # what needs no atlas answers
        # the server is left as it was: no plain "roco" collection to block `engine index`
        time.sleep(0.2)
        assert server.get_collections().collections == []

        # `engine index`: a versioned collection, filled and recorded, then the alias switched to it
        clip = BagOfWordsClip()
        version = ClientStore(server, "roco-v20261207", clip.dim)
        record_provenance(version, AtlasProvenance.of("fake-clip", clip.dim))
        version.upsert([AtlasRecord(clip.encode_text(["pneumothorax"])[0], AtlasPayload("ROCO_00001", "pneumothorax"))])
        switch_alias(server, "roco", "roco-v20261207")

        ready = _until(lambda: (r := client.get("/readyz")).status_code == 200 and r)
        assert ready, client.get("/readyz").text
        assert ready.json()["atlas_points"] == 1 and ready.json()["routes"]["search"] == "ready"
        hits = client.post("/v1/search", json={"query": "pneumothorax", "enrich": False}).json()["hits"]
        assert [h["id"] for h in hits] == ["ROCO_00001"]
    assert [c.name for c in server.get_collections().collections] == ["roco-v20261207"]
