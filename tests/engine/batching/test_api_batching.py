"""Batching behind the HTTP engine: concurrent requests share forward passes over a real socket, each
answer is the one its seed gives alone, and a client that leaves mid-batch changes nobody else's."""

from __future__ import annotations

import base64
import io
import threading
from contextlib import ExitStack

import httpx
import numpy as np
import pytest
from PIL import Image

from engine.api.app import create_app
from engine.batching.models import batched
from engine.runtime import EngineRuntime
from engine.store.base import AtlasPayload, AtlasRecord
from engine.tiny.demo_atlas import demo_pairs
from tests.engine.api.helpers import serving, settings_for
from tests.engine.pipelines.fakes import MemoryStore

from .helpers import forward_hook, together

pytestmark = pytest.mark.slow
BATCH_MAX = 8
STEPS = 6


@pytest.fixture(scope="module")
def engine(tmp_path_factory, clip_encoder, tiny_llm, tiny_diffusion, demo_atlas_dir):
    pairs = demo_pairs(demo_atlas_dir)[:24]
    store = MemoryStore(dim=clip_encoder.dim)
    vectors = clip_encoder.encode_text([caption for _, caption, _ in pairs])
    store.upsert([
        AtlasRecord(v, AtlasPayload(atlas_id=i, caption=c, modality="ct", pmc_id=f"PMC{n}", licence="CC BY"))
        for n, ((i, c, _), v) in enumerate(zip(pairs, vectors, strict=True))
    ])
    models = {
        role: batched(role, model, window_ms=300, max_size=BATCH_MAX)
        for role, model in (("clip", clip_encoder), ("llm", tiny_llm), ("diffusion", tiny_diffusion))
    }
    settings = settings_for(
        tmp_path_factory.mktemp("batching-engine"), batch_max=BATCH_MAX, batch_window_ms=300,
        llm_max_new_tokens=16, diffusion_steps=STEPS,
    )
    runtime = EngineRuntime.from_components(settings, store=store, **models)
    with serving(create_app(runtime)) as url, httpx.Client(base_url=url, timeout=120) as client:
        yield client, models
    for model in models.values():
        model.close()


def pixels(body: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(body["image_png_b64"]))).convert("RGB"), np.int16)


def test_readyz_tells_the_bot_how_many_requests_to_send_at_once(engine):
    client, _ = engine
    assert client.get("/readyz").json()["capacity"] == BATCH_MAX


def test_concurrent_enriched_searches_share_the_llm_and_keep_their_seeds_answers(engine):
    client, models = engine
    queries = ["bright round lesion", "dark wedge on the left", "small spot near the centre", "ring lesion"]
    before = sum(models["llm"].batcher.sizes.values())
    got = together([
        lambda q=q, s=s: client.post("/v1/search", json={"query": q, "k": 3, "seed": s}).json()
        for s, q in enumerate(queries)
    ])
    llm_batches = sum(models["llm"].batcher.sizes.values()) - before
    assert llm_batches < len(queries)  # some generations shared a loop
    alone = [client.post("/v1/search", json={"query": q, "k": 3, "seed": s}).json() for s, q in enumerate(queries)]
    assert [b["enriched"] for b in got] == [b["enriched"] for b in alone]
    assert [b["hits"] for b in got] == [b["hits"] for b in alone]
    assert any(b["enriched"] for b in got)


def test_a_client_leaving_mid_batch_leaves_its_neighbours_pictures_untouched(engine):
    client, models = engine
    seeds = [101, 202, 303]
    left = threading.Event()

    def leaver() -> str:
        with client.stream(
            "POST", "/v1/generate", json={"prompt": "chest x-ray", "seed": 999},
            headers={"Accept": "text/event-stream"},
        ) as response:
            for line in response.iter_lines():
                if line.startswith("event: progress"):
                    break  # the first denoising step is done: this client goes away
        left.set()
        return "left"

    before = dict(models["diffusion"].batcher.sizes)
    got = together([
        *[lambda s=s: client.post("/v1/generate", json={"prompt": f"axial CT {s}", "seed": s}).json() for s in seeds],
        leaver,
    ])
    assert got[-1] == "left" and left.is_set()
    sizes = models["diffusion"].batcher.sizes
    assert any(sizes[n] > before.get(n, 0) for n in range(2, BATCH_MAX + 1))  # they shared a loop
    for seed, body in zip(seeds, got, strict=False):
        assert body["seed"] == seed and body["steps"] == STEPS
        alone = client.post("/v1/generate", json={"prompt": f"axial CT {seed}", "seed": seed}).json()
        assert np.abs(pixels(body) - pixels(alone)).max() <= 2
    assert client.get("/readyz").status_code == 200


def test_every_model_call_of_concurrent_searches_and_generations_runs_on_one_thread(
    engine, clip_encoder, tiny_llm, tiny_diffusion
):
    """On the CPU a second thread running torch kernels slows every kernel (engine/batching/lane.py)."""
    client, _ = engine
    modules = {
        "clip image": clip_encoder.model.visual, "clip text": clip_encoder.model.transformer,
        "llm": tiny_llm.model, "unet": tiny_diffusion.pipe.unet,
    }
    threads: dict[str, set[str]] = {name: set() for name in modules}
    with ExitStack() as hooks:
        for name, module in modules.items():
            hooks.enter_context(forward_hook(module, lambda *_, name=name: threads[name].add(
                threading.current_thread().name)))
        got = together([
            *[lambda s=s: client.post("/v1/search", json={"query": "ring lesion", "k": 2, "seed": s}) for s in (1, 2)],
            *[lambda s=s: client.post("/v1/generate", json={"prompt": "axial CT", "seed": s}) for s in (3, 4)],
        ])
    assert [r.status_code for r in got] == [200, 200, 200, 200]
    assert all(got[i].json()["nearest"] is not None for i in (2, 3))
    assert all(threads.values()), threads  # every model ran …
    names = set().union(*threads.values())
    assert len(names) == 1 and names.pop().startswith("compute-lane"), threads  # … on the one lane thread
