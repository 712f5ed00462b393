"""Synthetic images generated from captions, encoded with CLIP (for synthetic image–caption consistency)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from engine.models.base import ClipEncoder, ImageGenerator


@dataclass
class SyntheticImages:
    """Images made from `prompts` (the captions cut to the text encoder's limit) and their CLIP vectors."""

    prompts: list[str]
    images: list[Image.Image]
    vectors: np.ndarray
    steps: int
    guidance: float
    fast: bool


def generate_from_captions(captions: Sequence[str], diffusion: ImageGenerator, clip: ClipEncoder, *,
                           seed: int, steps: int, guidance: float, fast: bool = False) -> SyntheticImages:
    """One image per caption (seed + i for caption i, as the generate command would), then CLIP image vectors."""
    prompts = [diffusion.truncate_prompt(c) for c in captions]
    images = [
        diffusion.generate(p, seed=seed + i, steps=steps, guidance=guidance, fast=fast)
        for i, p in enumerate(tqdm(prompts, desc="generating synthetic images", unit="image"))
    ]
    vectors = np.asarray(clip.encode_images(images), dtype=np.float32) if images else np.zeros((0, clip.dim))
    return SyntheticImages(prompts, images, vectors, steps, guidance, fast)
