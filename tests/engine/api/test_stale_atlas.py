"""At start the engine never deletes or overwrites an atlas it did not generate as the demo.

The reproduction from the field: an atlas indexed with the MedICaT-ROCO CLIP, then the README's quick
start (`MIRAGE_PROFILE=tiny … serve`) in the same data directory. It must find the atlas untouched
and say why it will not serve it; only an atlas marked as the demo may be rebuilt. Both backends:
the embedded store and a Qdrant server (a shared qdrant-client `:memory:` stands in for it).

The model loaders are replaced at their module boundary (a bag-of-words CLIP); runtime, loading,
stores and the demo indexing are real. The last test runs the real tiny CLIP.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.runtime import EngineRuntime
from engine.store.base import AtlasPayload, AtlasRecord
from engine.store.factory import open_configured_store, open_store
from engine.store.provenance import AtlasProvenance, clip_identity, read_provenance, record_provenance
from engine.tiny.demo_atlas import demo_pairs
from tests.engine.pipelines.fakes import DIM, BagOfWordsClip
from tests.engine.store.conftest import SERVER_URL, stand_in_server

from .helpers import FAKE_MODEL_IDS, settings_for

MEDICAT = "hf-hub:luhuitong/CLIP-ViT-L-14-448px-MedICaT-ROCO"
pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")


@pytest.fixture
def fake_clip(monkeypatch):
    """The engine loads a bag-of-words CLIP named "fake-clip" (in either profile)."""
    import engine.models.clip
    import engine.models.presets

    monkeypatch.setattr(engine.models.presets, "model_ids_for", lambda settings: FAKE_MODEL_IDS)
    monkeypatch.setattr(engine.models.clip, "load_clip", lambda model_id, **kw: BagOfWordsClip())


@pytest.fixture(params=["embedded", "server"])
def backend(request, monkeypatch) -> str:
    if request.param == "server":
        stand_in_server(monkeypatch)
    return request.param


def _settings(tmp_path, backend: str, **overrides):
    url = SERVER_URL if backend == "server" else None
    return settings_for(tmp_path, qdrant_url=url, enable_llm=False, enable_diffusion=False, **overrides)


def _fill(settings, n: int, dim: int, clip_model: str, *, demo: bool = False) -> dict[str, str]:
    """An atlas of `n` images recorded as filled by `clip_model`; returns its id -> caption."""
    rng = np.random.default_rng(0)
    records = [
        AtlasRecord(rng.normal(size=dim).astype(np.float32), AtlasPayload(f"ROCO_{i:05d}", f"finding {i}"))
        for i in range(n)
    ]
    with open_store(settings, dim) as atlas:
        atlas.upsert(records)
        record_provenance(atlas, AtlasProvenance(clip_model=clip_model, dim=dim, demo=demo))
        return _contents(atlas)


def _contents(atlas) -> dict[str, str]:
    return {r.payload.atlas_id: r.payload.caption for batch in atlas.scroll(with_images=False) for r in batch}


def _start(settings) -> EngineRuntime:
    runtime = EngineRuntime(settings)
    runtime.start()
    assert runtime.wait(120)
    return runtime


@pytest.mark.parametrize("width", [DIM, 768], ids=["same-width", "real-width"])
def test_the_tiny_quick_start_beside_a_real_atlas_leaves_it_untouched_and_says_why(
    tmp_path, backend, fake_clip, demo_atlas_dir, width
):
    settings = _settings(tmp_path, backend, profile="tiny")
    (tmp_path / "demo-roco").symlink_to(demo_atlas_dir, target_is_directory=True)
    before = _fill(settings, 30, width, MEDICAT)

    runtime = _start(settings)
    try:
        ready = runtime.readiness()
        assert not ready.ready and ready.missing == ["atlas"]
        reason = ready.detail["atlas"]
        assert MEDICAT in reason and "fake-clip" in reason  # both models named
        assert "MIRAGE_DATA_DIR" in reason and "python -m engine index" in reason  # the two ways out
        assert "data/tiny" in reason
    finally:
        runtime.close()

    with open_configured_store(settings, width) as atlas:  # the 30 images and their record, as they were
        assert _contents(atlas) == before
        assert read_provenance(atlas) == AtlasProvenance(clip_model=MEDICAT, dim=width, demo=False)


def test_an_atlas_of_another_model_is_refused_in_the_real_profile_too(tmp_path, backend, fake_clip):
    settings = _settings(tmp_path, backend, profile="real")
    before = _fill(settings, 12, DIM, "hf-hub:someone/other-clip")
    runtime = _start(settings)
    try:
        assert "hf-hub:someone/other-clip" in runtime.readiness().detail["atlas"]
    finally:
        runtime.close()
    with open_configured_store(settings, DIM) as atlas:
        assert _contents(atlas) == before


def test_an_atlas_without_a_record_gets_the_name_of_the_model_that_searches_it(tmp_path, backend, fake_clip):
    settings = _settings(tmp_path, backend, profile="real")
    clip = BagOfWordsClip()
    with open_store(settings, clip.dim) as atlas:
        atlas.upsert([AtlasRecord(clip.encode_text(["chest x-ray"])[0], AtlasPayload("ROCO_00001", "chest x-ray"))])
    runtime = _start(settings)
    try:
        ready = runtime.readiness()
        assert ready.ready and ready.atlas_points == 1
    finally:
        runtime.close()
    with open_configured_store(settings, clip.dim) as atlas:
        assert read_provenance(atlas) == AtlasProvenance(clip_model="fake-clip", dim=clip.dim, demo=False)


def test_a_demo_atlas_of_an_older_tiny_clip_is_rebuilt(tmp_path, fake_clip, demo_atlas_dir):
    settings = _settings(tmp_path, "embedded", profile="tiny")
    (tmp_path / "demo-roco").symlink_to(demo_atlas_dir, target_is_directory=True)
    _fill(settings, 50, DIM, "local:tiny-0000/clip[]", demo=True)

    runtime = _start(settings)
    try:
        ready = runtime.readiness()
        assert ready.ready, ready.detail
        pairs = demo_pairs(demo_atlas_dir)
        assert ready.atlas_points == len(pairs)  # the demo, indexed afresh; none of the 50 stale points
        assert _contents(runtime.store) == {roco_id: caption for roco_id, caption, _ in pairs}
        assert read_provenance(runtime.store) == AtlasProvenance(clip_model="fake-clip", dim=DIM, demo=True)
    finally:
        runtime.close()


def test_a_demo_collection_on_a_server_is_never_deleted_at_start(tmp_path, monkeypatch, fake_clip, demo_atlas_dir):
    """Replicas share a server's collection and `engine migrate` may have filled it: the engine stops
    with the mismatch instead of deleting it, even when it is marked as the demo."""
    stand_in_server(monkeypatch)
    settings = _settings(tmp_path, "server", profile="tiny")
    (tmp_path / "demo-roco").symlink_to(demo_atlas_dir, target_is_directory=True)
    before = _fill(settings, 50, DIM, "local:tiny-0000/clip[]", demo=True)
    runtime = _start(settings)
    try:
        assert runtime.readiness().missing == ["atlas"]
    finally:
        runtime.close()
    with open_configured_store(settings, DIM) as atlas:
        assert _contents(atlas) == before


def test_the_tiny_profile_marks_the_atlas_it_fills_as_the_demo(tmp_path, fake_clip, demo_atlas_dir):
    # embedded only: on a Qdrant server the engine creates no collection, not even the demo's
    # (tests/engine/api/test_index_then_serve.py)
    settings = _settings(tmp_path, "embedded", profile="tiny")
    (tmp_path / "demo-roco").symlink_to(demo_atlas_dir, target_is_directory=True)
    runtime = _start(settings)
    try:
        assert runtime.readiness().atlas_points == len(demo_pairs(demo_atlas_dir))
        assert read_provenance(runtime.store).demo
    finally:
        runtime.close()


def test_an_older_tiny_atlas_not_marked_as_the_demo_is_kept(tmp_path, fake_clip, demo_atlas_dir):
    """Someone indexed their own images with an older tiny CLIP: not the demo, so not deleted."""
    settings = _settings(tmp_path, "embedded", profile="tiny")
    (tmp_path / "demo-roco").symlink_to(demo_atlas_dir, target_is_directory=True)
    before = _fill(settings, 20, DIM, "local:tiny-0000/clip[]", demo=False)
    runtime = _start(settings)
    try:
        assert runtime.readiness().missing == ["atlas"]
    finally:
        runtime.close()
    with open_configured_store(settings, DIM) as atlas:
        assert _contents(atlas) == before


@pytest.mark.slow
def test_with_the_real_tiny_clip_the_rebuilt_demo_atlas_finds_the_right_image(
    tmp_path, test_cache_dir, tiny_paths, demo_atlas_dir, clip_encoder
):
    (tmp_path / "models").symlink_to(test_cache_dir / "models", target_is_directory=True)
    (tmp_path / "demo-roco").symlink_to(demo_atlas_dir, target_is_directory=True)
    settings = settings_for(tmp_path, profile="tiny", device="cpu", enable_llm=False, enable_diffusion=False)
    # a demo atlas of the same width filled by an older tiny CLIP: the captions' vectors are noise now
    stale = open_store(settings, clip_encoder.dim)
    rng = np.random.default_rng(0)
    stale.upsert([
        AtlasRecord(rng.normal(size=clip_encoder.dim).astype(np.float32), AtlasPayload(roco_id, caption))
        for roco_id, caption, _ in demo_pairs(demo_atlas_dir)[:50]
    ])
    record_provenance(stale, AtlasProvenance(clip_model="local:tiny-0000/clip[]", dim=clip_encoder.dim, demo=True))
    stale.close()

    runtime = _start(settings)
    try:
        ready = runtime.readiness()
        assert ready.ready, ready.detail
        pairs = demo_pairs(demo_atlas_dir)
        assert ready.atlas_points == len(pairs)
        # the same model seen through another path (a moved or linked data dir) has the same identity
        assert read_provenance(runtime.store).clip_model == clip_identity(tiny_paths.clip)
        roco_id, caption, _ = pairs[7]
        found = runtime.search_pipeline(enrich=False)(caption, k=3)
        assert roco_id in [hit.atlas_id for hit in found.hits]
    finally:
        runtime.close()
