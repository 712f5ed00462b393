"""The collection an atlas image comes from, as the API answers it: `source.collection` on /v1/atlas/{id}
and /v1/search, read from a real embedded atlas (null for a point stored before collections were)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from engine.api.app import create_app
from engine.runtime import EngineRuntime
from engine.store.base import AtlasPayload, AtlasRecord
from engine.store.edge import EdgeStore
from tests.engine.pipelines.fakes import BagOfWordsClip

from .helpers import settings_for

POINTS = {  # id: (caption, collection)
    "ROCO_00001": ("pleural effusion with blunted costophrenic angle", "ROCO"),
    "PMC1_fig2": ("pneumothorax with visible pleural line", "PMC-OA"),
    "OLD_7": ("fracture of the distal radius", None),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("engine")
    clip = BagOfWordsClip()
    store = EdgeStore.create(data_dir / "atlas", clip.dim)
    vectors = clip.encode_text([caption for caption, _ in POINTS.values()])
    store.upsert([AtlasRecord(v, AtlasPayload(atlas_id=i, caption=c, pmc_id="PMC1", licence="CC BY 4.0", source=s))
                  for v, (i, (c, s)) in zip(vectors, POINTS.items(), strict=True)])
    runtime = EngineRuntime.from_components(settings_for(data_dir, enable_llm=False, enable_diffusion=False),
                                            clip=clip, store=store)
    with TestClient(create_app(runtime)) as client:
        yield client


@pytest.mark.parametrize(("atlas_id", "collection"), [(i, s) for i, (_, s) in POINTS.items()])
def test_an_atlas_entry_names_its_collection(client, atlas_id, collection):
    response = client.get(f"/v1/atlas/{atlas_id}")
    assert response.status_code == 200, response.text
    assert response.json()["source"] == {"roco_id": atlas_id, "pmc_id": "PMC1", "licence": "CC BY 4.0",
                                         "collection": collection}


def test_search_hits_name_their_collection(client):
    response = client.post("/v1/search", json={"query": "pneumothorax pleural line", "k": 3})
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert {h["id"]: h["source"]["collection"] for h in hits} == {i: s for i, (_, s) in POINTS.items()}
    assert hits[0]["id"] == "PMC1_fig2"
