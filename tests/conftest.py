"""Shared fixtures: the demo atlas and the tiny models, built once and cached across test runs.

The cache lives in `<repo>/.cache/test-models` (override with env MIRAGE_TEST_CACHE). Building is
race-safe (temp dir + rename), so parallel test runs may share it. Model code is imported lazily so
tests that never touch models (the bot's) do not import torch.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# The tiny models gain nothing from intra-op threads, and on a shared CPU torch's spinning worker
# threads made each step 3-4x slower (measured); set before anything imports torch. Env wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def test_cache_dir() -> Path:
    """Directory that survives across test runs, holding the demo atlas and the tiny models."""
    path = Path(os.environ.get("MIRAGE_TEST_CACHE") or REPO_ROOT / ".cache" / "test-models")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def demo_atlas_dir(test_cache_dir: Path) -> Path:
    """Root of the generated demo atlas in ROCO's official layout (root/data/{split}/radiology/...)."""
    from engine.tiny.demo_atlas import build_demo_atlas

    return build_demo_atlas(test_cache_dir / "demo-roco")


@pytest.fixture(scope="session")
def tiny_paths(test_cache_dir: Path, demo_atlas_dir: Path):
    """TinyModelPaths: local directories usable as model ids (clip, llm, diffusion, lcm_lora)."""
    from engine.tiny.build import ensure_tiny_models

    return ensure_tiny_models(test_cache_dir / "models", demo_atlas_dir)


@pytest.fixture(scope="session")
def clip_encoder(tiny_paths):
    """The tiny CLIP (trained on the demo atlas), loaded through load_clip on CPU."""
    from engine.models.clip import load_clip

    return load_clip(tiny_paths.clip, device="cpu")


@pytest.fixture(scope="session")
def tiny_llm(tiny_paths):
    """The tiny random GPT-NeoX causal LM, loaded through load_llm on CPU."""
    from engine.models.llm import load_llm

    return load_llm(tiny_paths.llm, device="cpu")


@pytest.fixture(scope="session")
def tiny_diffusion(tiny_paths):
    """The tiny random Stable Diffusion pipeline (with its LCM-LoRA), loaded through load_diffusion on CPU."""
    from engine.models.diffusion import load_diffusion

    return load_diffusion(tiny_paths.diffusion, device="cpu", lcm_lora=tiny_paths.lcm_lora)
