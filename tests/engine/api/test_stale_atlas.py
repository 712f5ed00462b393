"""An atlas filled by an older tiny CLIP is rebuilt at start, not searched with the new model.

Two tiny CLIPs of the same width give vectors of the same size, so only the recorded provenance
tells their spaces apart; without it search would return meaningless images with no error.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.runtime import EngineRuntime
from engine.store.base import AtlasPayload, AtlasRecord
from engine.store.factory import open_store
from engine.store.provenance import AtlasProvenance, clip_identity, read_provenance, record_provenance
from engine.tiny.demo_atlas import demo_pairs

from .helpers import settings_for

pytestmark = pytest.mark.slow


def test_a_demo_atlas_of_an_older_tiny_clip_is_rebuilt_and_search_finds_the_right_image(
    tmp_path, test_cache_dir, tiny_paths, demo_atlas_dir, clip_encoder
):
    (tmp_path / "models").symlink_to(test_cache_dir / "models", target_is_directory=True)
    (tmp_path / "demo-roco").symlink_to(demo_atlas_dir, target_is_directory=True)
    settings = settings_for(
        tmp_path, profile="tiny", device="cpu", enable_llm=False, enable_diffusion=False
    )
    # an atlas of the same width filled by "another" CLIP: the captions' vectors are noise now
    stale = open_store(settings, clip_encoder.dim)
    rng = np.random.default_rng(0)
    stale.upsert([
        AtlasRecord(rng.normal(size=clip_encoder.dim).astype(np.float32), AtlasPayload(roco_id, caption))
        for roco_id, caption, _ in demo_pairs(demo_atlas_dir)[:50]
    ])
    stale.close()
    record_provenance(settings, AtlasProvenance(clip_model="/old/tiny-0000/clip", dim=clip_encoder.dim))

    runtime = EngineRuntime(settings)
    runtime.start()
    try:
        assert runtime.wait(240)
        ready = runtime.readiness()
        assert ready.ready, ready.detail
        pairs = demo_pairs(demo_atlas_dir)
        assert ready.atlas_points == len(pairs)  # rebuilt from the demo atlas, not the 50 stale points
        # the same model seen through another path (a moved or linked data dir) has the same identity
        assert read_provenance(settings).clip_model == clip_identity(tiny_paths.clip)
        roco_id, caption, _ = pairs[7]
        found = runtime.search_pipeline(enrich=False)(caption, k=3)
        assert roco_id in [hit.atlas_id for hit in found.hits]
    finally:
        runtime.close()
