"""Model ids per profile: the settings' ids for "real", the cached tiny directories for "tiny"."""

from __future__ import annotations

import time
from pathlib import Path

from engine.config import EngineSettings
from engine.models.presets import model_ids_for
from engine.tiny.build import COMPLETE, ensure_tiny_models


def test_the_real_profile_uses_the_settings_ids():
    settings = EngineSettings(_env_file=None, profile="real", lcm_lora="")
    ids = model_ids_for(settings)
    assert ids.clip == settings.clip_model == "hf-hub:luhuitong/CLIP-ViT-L-14-448px-MedICaT-ROCO"
    assert ids.llm == "databricks/dolly-v2-3b"
    assert ids.diffusion == "Nihirc/Prompt2MedImage"
    assert ids.lcm_lora is None  # empty setting turns fast mode off


def test_the_tiny_profile_points_at_the_cached_local_models(test_cache_dir, tiny_paths):
    settings = EngineSettings(_env_file=None, profile="tiny", data_dir=test_cache_dir)
    started = time.perf_counter()
    ids = model_ids_for(settings)
    assert time.perf_counter() - started < 5  # cached: no rebuild
    assert (ids.clip, ids.llm, ids.diffusion, ids.lcm_lora) == (
        tiny_paths.clip,
        tiny_paths.llm,
        tiny_paths.diffusion,
        tiny_paths.lcm_lora,
    )
    for path in (ids.clip, ids.llm, ids.diffusion, ids.lcm_lora):
        assert Path(path).is_dir()
    assert (Path(ids.clip).parent / COMPLETE).is_file()


def test_ensure_tiny_models_is_idempotent(test_cache_dir, tiny_paths):
    again = ensure_tiny_models(test_cache_dir / "models", test_cache_dir / "demo-roco")
    assert again == tiny_paths
