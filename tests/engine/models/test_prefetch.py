"""`python -m engine prefetch`: seeds the hub cache once, then reports what an offline engine will find."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from engine.config import EngineSettings
from engine.models.prefetch import check_safetensors, choose_files, prefetch
from tests.conftest import REPO_ROOT

# Files of a Stable Diffusion 1.x repo on the hub, as its listing shows them.
SD_REPO = [
    ".gitattributes", "README.md", "v1-5-pruned.ckpt", "v1-5-pruned-emaonly.safetensors", "model_index.json",
    "feature_extractor/preprocessor_config.json", "safety_checker/config.json",
    "safety_checker/model.safetensors", "scheduler/scheduler_config.json", "text_encoder/config.json",
    "text_encoder/model.safetensors", "text_encoder/pytorch_model.bin", "text_encoder/model.fp16.safetensors",
    "tokenizer/merges.txt", "tokenizer/vocab.json", "tokenizer/tokenizer_config.json", "unet/config.json",
    "unet/diffusion_pytorch_model.bin", "unet/diffusion_pytorch_model.non_ema.bin", "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors",
]


def run_prefetch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MIRAGE_", "HF_"))}
    return subprocess.run(
        [sys.executable, "-m", "engine", "prefetch", *args],
        cwd=REPO_ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=600,
    )


def write_weights(path: Path) -> None:
    save_file({"w": np.ones((4, 4), dtype=np.float32)}, str(path))


def test_only_the_files_the_loaders_read_are_downloaded_one_format_per_folder() -> None:
    chosen = choose_files(SD_REPO, skip_dirs=("safety_checker",))
    assert "unet/diffusion_pytorch_model.bin" in chosen  # the only plain weights there
    assert "unet/diffusion_pytorch_model.non_ema.bin" not in chosen
    assert "text_encoder/model.safetensors" in chosen
    assert "text_encoder/pytorch_model.bin" not in chosen  # safetensors first, never both
    assert "vae/diffusion_pytorch_model.fp16.safetensors" not in chosen
    assert "v1-5-pruned.ckpt" not in chosen and "README.md" not in chosen
    assert not any(name.startswith("safety_checker/") for name in chosen)
    assert {"model_index.json", "tokenizer/merges.txt", "scheduler/scheduler_config.json"} <= set(chosen)


def test_a_truncated_safetensors_file_is_named_as_corrupt(tmp_path: Path) -> None:
    write_weights(tmp_path / "model.safetensors")
    check_safetensors("LLM", "org/llm", tmp_path)  # whole: fine
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[:-10])
    with pytest.raises(Exception, match=r"LLM weights not found at .*model\.safetensors.*truncated or corrupt"):
        check_safetensors("LLM", "org/llm", tmp_path)


def test_a_local_directory_without_weights_is_reported_missing_naming_it(tmp_path: Path) -> None:
    clip_dir = tmp_path / "my-clip"
    clip_dir.mkdir()
    (clip_dir / "open_clip_config.json").write_text("{}")
    settings = EngineSettings(
        _env_file=None, data_dir=tmp_path, clip_model=str(clip_dir), enable_llm=False, enable_diffusion=False
    )
    found, missing = prefetch(settings, download=False, say=lambda _: None)
    assert found == []
    assert str(missing[0]).startswith(f"CLIP weights not found at {clip_dir} for '{clip_dir}'")
    assert "*.safetensors" in str(missing[0])  # and which files it expected


def test_offline_with_hub_ids_fails_fast_naming_each_id_and_where_it_looked(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_prefetch({"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
                           "MIRAGE_DATA_DIR": str(tmp_path / "data")})
    assert time.monotonic() - started < 60  # no network wait, no hang
    assert result.returncode == 1, result.stdout + result.stderr
    cache = tmp_path / "hf" / "hub"
    for role, model_id in [("CLIP", "hf-hub:luhuitong/CLIP-ViT-L-14-448px-MedICaT-ROCO"),
                           ("LLM", "databricks/dolly-v2-3b"), ("diffusion", "Nihirc/Prompt2MedImage"),
                           ("LCM-LoRA", "latent-consistency/lcm-lora-sdv1-5")]:
        repo = model_id.removeprefix("hf-hub:").replace("/", "--")
        assert f"{role} weights not found at {cache}/models--{repo} for '{model_id}'" in result.stdout
    assert "4 model(s) missing; the engine would not get ready offline" in result.stdout


def test_a_seeded_hub_cache_is_reported_where_the_offline_engine_will_find_it(tmp_path: Path) -> None:
    # the layout huggingface_hub writes: refs/main names the snapshot the files live in
    repo = tmp_path / "hf" / "hub" / "models--example--med-clip"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (snapshot / "open_clip_config.json").write_text("{}")
    write_weights(snapshot / "open_clip_model.safetensors")
    env = {"HF_HOME": str(tmp_path / "hf"), "MIRAGE_DATA_DIR": str(tmp_path / "data"),
           "MIRAGE_CLIP_MODEL": "hf-hub:example/med-clip", "MIRAGE_ENABLE_LLM": "false",
           "MIRAGE_ENABLE_DIFFUSION": "false"}
    result = run_prefetch(env, "--check-only")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"CLIP      hf-hub:example/med-clip  ->  {snapshot}" in result.stdout
    # and truncating the weights turns the same cache into a clear failure
    weights = snapshot / "open_clip_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])
    result = run_prefetch(env, "--check-only")
    assert result.returncode == 1
    assert "truncated or corrupt" in result.stdout


@pytest.mark.slow
def test_the_tiny_profile_reports_its_local_models_found(test_cache_dir: Path, tiny_paths, tmp_path: Path) -> None:
    from tests.e2e.processes import engine_data_dir

    data_dir = engine_data_dir(test_cache_dir, tmp_path)
    result = run_prefetch({"MIRAGE_PROFILE": "tiny", "MIRAGE_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    for role, path in [("CLIP", tiny_paths.clip), ("LLM", tiny_paths.llm), ("diffusion", tiny_paths.diffusion),
                       ("LCM-LoRA", tiny_paths.lcm_lora)]:
        assert f"  {role:<9} " in result.stdout and Path(path).name in result.stdout
    assert "MISSING" not in result.stdout
