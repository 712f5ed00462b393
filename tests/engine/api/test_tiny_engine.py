"""The whole engine on the tiny profile, answered over a real loopback socket by uvicorn.

The runtime starts as `python -m engine serve` would: it prepares the tiny models (cached by the
shared fixtures), loads them through the real loaders, indexes the demo atlas into a fresh
embedded store at first start, then serves search, compare, generate, image search and the atlas.
"""

from __future__ import annotations

import base64
import io
import threading

import httpx
import numpy as np
import pytest
from PIL import Image

from engine.api.sse import parse_events
from engine.pipelines.stamp import BANNER_FILL, banner_box
from engine.tiny.demo_atlas import demo_pairs

from .helpers import serving_tiny_engine

pytestmark = pytest.mark.slow
TOKEN = "tiny-profile-test-token"


@pytest.fixture(scope="module")
def engine(tmp_path_factory, test_cache_dir, tiny_paths, demo_atlas_dir):
    # reuse the models and demo atlas the shared fixtures built; the atlas store itself is new
    data_dir = tmp_path_factory.mktemp("engine-data")
    models_dir = test_cache_dir / "models"
    with (
        serving_tiny_engine(data_dir, models_dir, demo_atlas_dir, engine_token=TOKEN, gpu_workers=2) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client,
    ):
        yield client


def test_ready_with_every_component_and_the_demo_atlas_indexed(engine, demo_atlas_dir):
    ready = engine.get("/readyz").json()
    assert ready["ready"] and ready["loaded"] == ["clip", "atlas", "llm", "diffusion"]
    assert ready["atlas_points"] == len(demo_pairs(demo_atlas_dir)) and ready["profile"] == "tiny"


def test_the_token_is_required_over_the_socket(engine):
    response = httpx.post(f"{engine.base_url}/v1/search", json={"query": "x"})
    assert response.status_code == 401


def test_search_round_trip_finds_the_captioned_image_and_serves_its_bytes(engine, demo_atlas_dir):
    roco_id, caption, _ = demo_pairs(demo_atlas_dir)[0]
    body = engine.post("/v1/search", json={"query": caption, "k": 3, "seed": 1}).json()
    assert body["query"] == caption and len(body["hits"]) == 3
    assert roco_id in [h["id"] for h in body["hits"]]
    assert body["context_ids"] == [h["id"] for h in body["hits"]]
    assert body["best"] is not None and (body["enriched"] is not None or body["notes"])
    hit = body["hits"][0]
    assert hit["source"]["roco_id"] == hit["id"] and hit["source"]["pmc_id"].startswith("PMC")
    image = engine.get(hit["image_url"])
    assert image.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(image.content)).size[0] > 0
    assert engine.get(f"/v1/atlas/{hit['id']}").json()["caption"] == hit["caption"]


def test_compare_round_trip(engine):
    body = engine.post("/v1/compare", json={
        "query": "Chest x-ray radiograph showing a bright round lesion in the center of the image.",
        "subtract": "Chest x-ray radiograph", "add": "Axial CT scan", "k": 2,
    }).json()
    assert len(body["original"]["hits"]) == 2 and len(body["modified"]["hits"]) == 2
    assert body["original"]["hits"] != body["modified"]["hits"]


def test_generate_round_trip_is_stamped_reproducible_and_has_a_nearest_real_image(engine):
    request = {"prompt": "Axial CT scan showing a dark square mass", "seed": 5}
    first, again = (engine.post("/v1/generate", json=request).json() for _ in range(2))
    assert first["image_png_b64"] == again["image_png_b64"]
    assert (first["seed"], first["steps"], first["synthetic"]) == (5, 2, True)
    image = Image.open(io.BytesIO(base64.b64decode(first["image_png_b64"])))
    assert image.text["synthetic"] == "true" and image.text["prompt"] == request["prompt"]
    left, top, right, bottom = banner_box(image.size)
    assert (np.asarray(image.convert("RGB"))[top:bottom] == BANNER_FILL).all(axis=-1).mean() > 0.5
    assert engine.get(first["nearest"]["image_url"]).status_code == 200


def test_generate_streams_progress_over_the_socket(engine):
    with engine.stream("POST", "/v1/generate", json={"prompt": "PET scan", "seed": 1, "fast": True},
                       headers={"Accept": "text/event-stream"}) as response:
        events = parse_events(response.read().decode())
    progress = [(d["step"], d["total"]) for name, d in events if name == "progress"]
    assert progress == [(1, 2), (2, 2)]  # LCM runs exactly the steps asked for
    assert events[-1][0] == "result" and events[-1][1]["fast"] is True


def test_image_search_round_trip_finds_the_uploaded_atlas_image(engine, demo_atlas_dir):
    roco_id, _, path = demo_pairs(demo_atlas_dir)[3]
    response = engine.post("/v1/search/image", files={"image": (path.name, path.read_bytes(), "image/jpeg")},
                           data={"k": "2"})
    assert response.status_code == 200, response.text
    assert response.json()["hits"][0]["id"] == roco_id


def test_similar_searches_with_the_stored_vector_as_an_upload_of_the_same_image_would(engine, demo_atlas_dir):
    roco_id, _, path = demo_pairs(demo_atlas_dir)[5]
    uploaded = engine.post("/v1/search/image", files={"image": (path.name, path.read_bytes(), "image/jpeg")},
                           data={"k": "4"}).json()["hits"]
    similar = engine.post(f"/v1/search/similar/{roco_id}", json={"k": 3}).json()
    # the stored vector is the image's CLIP embedding: same neighbours, the image itself left out
    assert uploaded[0]["id"] == roco_id
    assert [h["id"] for h in similar["hits"]] == [h["id"] for h in uploaded[1:]]
    assert engine.post("/v1/search/similar/ROCO_99999", json={}).status_code == 404


def test_embed_gives_unit_vectors_of_the_clip_dimension(engine):
    body = engine.post("/v1/embed", json={"texts": ["CT", "MRI"]}).json()
    vectors = np.array(body["vectors"])
    assert vectors.shape == (2, body["dim"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


def test_concurrent_requests_do_not_corrupt_each_other(engine, demo_atlas_dir):
    queries = [caption for _, caption, _ in demo_pairs(demo_atlas_dir)[:6]]
    requests = [("/v1/search", {"query": q, "k": 3, "seed": i}) for i, q in enumerate(queries)]
    requests += [("/v1/generate", {"prompt": q, "seed": i}) for i, q in enumerate(queries[:2])]

    def key(path: str, body: dict):
        if path == "/v1/search":
            return [(h["id"], round(h["score"], 4)) for h in body["hits"]], body["enriched"], body["best"]["id"]
        return _Picture(body["image_png_b64"]), body["nearest"]["id"]

    sequential = [key(path, engine.post(path, json=body).json()) for path, body in requests]
    concurrent: list = [None] * len(requests)

    def run(i: int) -> None:
        path, body = requests[i]
        concurrent[i] = key(path, engine.post(path, json=body).json())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert concurrent == sequential


# A generation that shares a diffusion batch may move a pixel by a level through float rounding
# (tests/engine/batching/test_diffusion_batching.py, bench/README.md): equal within that, not byte-equal.
PIXEL_TOLERANCE = 2


class _Picture:
    """A generated PNG compared by its pixels, within PIXEL_TOLERANCE of 255."""

    def __init__(self, png_b64: str) -> None:
        with Image.open(io.BytesIO(base64.b64decode(png_b64))) as image:
            self.pixels = np.asarray(image.convert("RGB"), dtype=np.int16)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _Picture) and self.pixels.shape == other.pixels.shape
                and int(np.abs(self.pixels - other.pixels).max()) <= PIXEL_TOLERANCE)

    def __repr__(self) -> str:
        return f"<picture {self.pixels.shape}>"

