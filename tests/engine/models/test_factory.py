"""One door from settings to loaded models (engine/models/factory.py), on the real tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.config import EngineSettings
from engine.models.factory import load_models

pytestmark = pytest.mark.slow  # loads (or builds once, cached) the tiny models


@pytest.fixture
def tiny_settings(tmp_path, test_cache_dir, demo_atlas_dir, tiny_paths) -> EngineSettings:
    (tmp_path / "models").symlink_to(test_cache_dir / "models", target_is_directory=True)
    (tmp_path / "demo-roco").symlink_to(demo_atlas_dir, target_is_directory=True)
    return EngineSettings(_env_file=None, profile="tiny", data_dir=tmp_path, device="cpu")


def test_only_the_roles_asked_for_are_loaded(tiny_settings):
    models = load_models(tiny_settings, roles=("clip",))
    assert Path(models.ids.clip).parents[1] == tiny_settings.models_dir  # the profile's own model cache
    assert models.llm is None and models.diffusion is None
    vectors = models.clip.encode_text(["a bright round lesion"])
    assert vectors.shape == (1, models.clip.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_an_unknown_role_is_named_before_anything_loads(tiny_settings):
    with pytest.raises(ValueError, match=r"\['vae'\] are not among \['clip', 'llm', 'diffusion'\]"):
        load_models(tiny_settings, roles=("clip", "vae"))


def test_the_lcm_lora_is_loaded_with_the_diffusion_model_not_on_the_first_fast_request(tiny_settings):
    with_fast = load_models(tiny_settings, roles=("diffusion",)).diffusion
    assert with_fast.supports_fast
    assert "lcm" in with_fast.pipe.get_list_adapters().get("unet", [])  # there before any fast request
    without = load_models(tiny_settings, roles=("diffusion",), fast=False).diffusion
    assert not without.supports_fast and not without.pipe.get_list_adapters()
    # the loaded adapter stays off in normal mode: the same pixels as a pipeline without it
    prompt = "CT scan showing a bright round lesion"
    normal = with_fast.generate(prompt, seed=3, steps=2, guidance=7.5)
    assert np.array_equal(np.asarray(normal), np.asarray(without.generate(prompt, seed=3, steps=2, guidance=7.5)))
    fast = with_fast.generate(prompt, seed=3, steps=2, guidance=1.5, fast=True)
    assert not np.array_equal(np.asarray(fast), np.asarray(normal))
