"""The tiny profile: small local models of the real families, built once and cached on disk.

`ensure_tiny_models` returns local directories that go through the same loaders as the real ids.
The cache key hashes every tiny config, so changing one rebuilds. Builds are race-safe: one process
builds under a file lock, in a temporary directory that is renamed into place when complete.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.tiny import clip as tiny_clip
from engine.tiny import demo_atlas
from engine.tiny import diffusion as tiny_diffusion
from engine.tiny import llm as tiny_llm

log = logging.getLogger(__name__)

TINY_VERSION = 1
COMPLETE = "TINY_MODELS.json"


@dataclass(frozen=True)
class TinyModelPaths:
    """Local directories usable as model ids."""

    clip: str
    llm: str
    diffusion: str
    lcm_lora: str


def ensure_tiny_models(models_dir: Path, demo_atlas_dir: Path) -> TinyModelPaths:
    """Build (once) the tiny CLIP, LLM, diffusion model and LCM-LoRA under `models_dir`; return their paths.

    Builds the demo atlas in `demo_atlas_dir` first if needed (the tiny CLIP is trained on it).
    """
    atlas_root = demo_atlas.build_demo_atlas(Path(demo_atlas_dir))
    models_dir = Path(models_dir)
    final = models_dir / f"tiny-{config_hash()}"
    if not (final / COMPLETE).exists():
        models_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(models_dir / f".{final.name}.lock"):
            if not (final / COMPLETE).exists():  # another process may have built it while we waited
                _build(final, atlas_root)
    return _paths(final)


def config_hash() -> str:
    """Short hash of everything that shapes the tiny models."""
    config = {
        "version": TINY_VERSION,
        "atlas": demo_atlas.FORMAT_VERSION,
        "clip": [tiny_clip.MODEL_CFG, tiny_clip.PREPROCESS_CFG, tiny_clip.TRAIN_CFG],
        "llm": [tiny_llm.MODEL_CFG, tiny_llm.TOKENIZER_CFG, tiny_llm.TRAIN_CFG],
        "diffusion": [
            tiny_diffusion.TEXT_CFG,
            tiny_diffusion.UNET_CFG,
            tiny_diffusion.VAE_CFG,
            tiny_diffusion.SCHEDULER_CFG,
            tiny_diffusion.LORA_CFG,
        ],
    }
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _paths(root: Path) -> TinyModelPaths:
    return TinyModelPaths(
        clip=str(root / "clip"),
        llm=str(root / "llm"),
        diffusion=str(root / "diffusion"),
        lcm_lora=str(root / "lcm-lora"),
    )


def _build(final: Path, atlas_root: Path) -> None:
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    pairs = demo_atlas.demo_pairs(atlas_root)
    started = time.perf_counter()
    log.info("building tiny models in %s (once; cached)", final)
    try:
        with _single_thread():
            log.info("tiny models 1/3: CLIP, trained on %d demo pairs", len(pairs))
            clip_metrics = tiny_clip.build_tiny_clip(tmp / "clip", pairs)
            log.info("tiny models 2/3: LLM")
            tiny_llm.build_tiny_llm(tmp / "llm", [caption for _, caption, _ in pairs])
            log.info("tiny models 3/3: diffusion + LCM-LoRA")
            tiny_diffusion.build_tiny_diffusion(tmp / "diffusion", tmp / "lcm-lora")
        seconds = round(time.perf_counter() - started, 1)
        (tmp / COMPLETE).write_text(
            json.dumps({"hash": config_hash(), "seconds": seconds, "clip": clip_metrics})
        )
        if final.exists():  # a stale partial directory from an older, non-atomic layout
            shutil.rmtree(final)
        tmp.rename(final)
        log.info("tiny models ready in %.1f s", seconds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _single_thread() -> Iterator[None]:
    """One intra-op thread while building: reproducible float sums, and no oversubscription on shared CPUs."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process is building the tiny models; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
