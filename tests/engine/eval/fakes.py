"""Hand-made stand-ins for the model edge: encoders whose vectors are chosen by the test."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from engine.models.base import Prompt


class TableClip:
    """A ClipEncoder whose text vectors come from a table and whose image vector is its red channel's row."""

    model_id = "table-clip"

    def __init__(self, texts: dict[str, np.ndarray], images: np.ndarray) -> None:
        self.texts = {k: v / np.linalg.norm(v) for k, v in texts.items()}
        self.images = images / np.linalg.norm(images, axis=1, keepdims=True)
        self.dim = images.shape[1]

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.texts[t] for t in texts]).astype(np.float32)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return np.stack([self.images[im.getpixel((0, 0))[0]] for im in images]).astype(np.float32)


class EchoLLM:
    """A TextGenerator answering 'about <query>' (or nothing, for queries listed in `silent_on`)."""

    model_id = "echo-llm"

    def __init__(self, silent_on: Sequence[str] = ()) -> None:
        self.silent_on = set(silent_on)
        self.prompts: list[str] = []

    def generate(self, prompt: Prompt, *, max_new_tokens: int, top_p: float, seed: int, cancel=None) -> str:
        self.prompts.append(prompt.text)
        query = prompt.text.split("Explain the condition '", 1)[1].split("' concisely", 1)[0]
        return "" if query in self.silent_on else f"about {query}"


class IndexDiffusion:
    """An ImageGenerator drawing a 4×4 image whose red channel is the row index named in the prompt."""

    model_id = "index-diffusion"
    supports_fast = False

    def __init__(self, index_of: dict[str, int]) -> None:
        self.index_of = index_of

    def truncate_prompt(self, prompt: str) -> str:
        return prompt

    def generate(self, prompt: str, *, seed: int, steps: int, guidance: float, fast: bool = False,
                 on_step=None, cancel=None) -> Image.Image:
        return Image.new("RGB", (4, 4), (self.index_of[prompt], 0, 0))
