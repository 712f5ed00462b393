"""Offline with missing weights: every loader fails fast with WeightsNotFoundError naming role, id and place."""

from __future__ import annotations

import time

import pytest

from engine.models.base import WeightsNotFoundError
from engine.models.clip import load_clip
from engine.models.diffusion import load_diffusion
from engine.models.llm import load_llm

MISSING_REPO = "mirage-tests/no-such-model"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize(
    ("role", "load", "model_id"),
    [
        ("CLIP", lambda mid: load_clip(mid, device="cpu"), f"hf-hub:{MISSING_REPO}"),
        ("LLM", lambda mid: load_llm(mid, device="cpu"), MISSING_REPO),
        ("diffusion", lambda mid: load_diffusion(mid, device="cpu"), MISSING_REPO),
    ],
)
def test_missing_hub_weights_offline_fail_fast_with_role_id_and_cache_dir(role, load, model_id):
    with pytest.raises(WeightsNotFoundError):
        load(model_id)  # the first call also pays for importing the library
    started = time.perf_counter()
    with pytest.raises(WeightsNotFoundError) as info:
        load(model_id)
    assert time.perf_counter() - started < 2  # no network attempt, no retries
    error = info.value
    assert error.role == role and error.model_id == model_id
    assert "models--mirage-tests--no-such-model" in str(error)
    assert str(error).startswith(f"{role} weights not found at ")
    assert "HF_HUB_OFFLINE" in str(error)


def test_missing_lcm_lora_offline_is_reported_as_its_own_role(tiny_paths):
    with pytest.raises(WeightsNotFoundError) as info:
        load_diffusion(tiny_paths.diffusion, device="cpu", lcm_lora="latent-consistency/no-such-lora")
    assert info.value.role == "LCM-LoRA"
    assert "models--latent-consistency--no-such-lora" in str(info.value)


@pytest.mark.parametrize(
    ("role", "load"),
    [
        ("CLIP", lambda mid: load_clip(mid, device="cpu")),
        ("LLM", lambda mid: load_llm(mid, device="cpu")),
        ("diffusion", lambda mid: load_diffusion(mid, device="cpu")),
    ],
)
def test_a_missing_local_directory_is_named_in_the_error(role, load, tmp_path):
    missing = tmp_path / "not-there"
    with pytest.raises(WeightsNotFoundError) as info:
        load(str(missing))
    assert info.value.role == role
    assert str(missing) in str(info.value)


def test_an_llm_directory_without_weights_lists_what_is_missing(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(WeightsNotFoundError, match=r"safetensors"):
        load_llm(str(tmp_path), device="cpu")


def test_local_models_load_offline_through_the_same_loaders(tiny_paths):
    assert load_clip(tiny_paths.clip, device="cpu").dim == 64
    assert load_llm(tiny_paths.llm, device="cpu").model_id == tiny_paths.llm
    assert load_diffusion(tiny_paths.diffusion, device="cpu", lcm_lora=tiny_paths.lcm_lora).supports_fast
