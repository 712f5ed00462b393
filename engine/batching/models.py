"""The loaded models behind batchers: pipelines call them as before, and calls from several worker
threads that arrive within the window share one forward pass.

- CLIP: text encodes batch with text encodes, image encodes with image encodes.
- LLM: prompts share one sampling loop (engine/batching/sampling.py); each keeps its own seed.
- Diffusion: prompts with the same steps, guidance and mode share one denoising loop; each keeps
  its own seed, progress callback and cancel event.
A request's result is what it would be alone (to float rounding); a request that fails, fails alone.
On the CPU every model call runs on the one compute lane (engine/batching/lane.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.models.base import ProgressCallback, Prompt

from .core import Batcher, Pending
from .lane import lane_for


def settle(pending: Pending[Any], outcome: Any) -> None:
    """Resolve `pending` with `outcome`, or fail it when `outcome` is an exception."""
    if isinstance(outcome, BaseException):
        pending.fail(outcome)
    else:
        pending.resolve(outcome)


class _Delegating:
    """Anything the wrapper does not batch (ingestion's `encode_pixels`, `preprocess`, `tokenizer` …)
    goes to the wrapped model unchanged."""

    inner: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def close(self) -> None:
        """Stop the batchers' threads."""
        for batcher in self.batchers:
            batcher.close()

    batchers: list[Batcher[Any]]


class BatchedClip(_Delegating):
    """A ClipEncoder whose text and image encodes are batched across callers."""

    def __init__(self, inner: Any, *, window_s: float, max_size: int) -> None:
        self.inner = inner
        self.dim, self.model_id = inner.dim, inner.model_id
        lane = lane_for(inner)
        self.text: Batcher[list[str]] = Batcher("clip_text", lambda b: lane(self._run_text, b), window_s=window_s, max_size=max_size)
        self.images: Batcher[list[Image.Image]] = Batcher("clip_image", lambda b: lane(self._run_images, b), window_s=window_s, max_size=max_size)
        self.batchers = [self.text, self.images]

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) unit float32 rows, as the wrapped encoder gives them."""
        if isinstance(texts, str):
            raise TypeError("encode_text expects a sequence of strings, not a single string")
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self.text(list(texts))

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) unit float32 rows for RGB PIL images of any size."""
        if not images:
            return np.zeros((0, self.dim), np.float32)
        return self.images(list(images))

    def _run_text(self, batch: list[Pending[list[str]]]) -> None:
        vectors = self.inner.encode_text([text for pending in batch for text in pending.request])
        self._hand_out(batch, [len(p.request) for p in batch], vectors)

    def _run_images(self, batch: list[Pending[list[Image.Image]]]) -> None:
        # 1. Preprocess per request: an image that cannot be read fails only its own request
        pixels, owners = [], []
        for pending in batch:
            try:
                pixels.append([self.inner.preprocess(image) for image in pending.request])
                owners.append(pending)
            except Exception as exc:
                pending.fail(exc)
        if not owners:
            return
        # 2. One forward pass (in chunks of the encoder's batch size) for every image of every request
        flat = [tensor for tensors in pixels for tensor in tensors]
        size = int(getattr(self.inner, "batch_size", 64))
        vectors = np.concatenate(
            [self.inner.encode_pixels(torch.stack(flat[i : i + size])) for i in range(0, len(flat), size)]
        )
        self._hand_out(owners, [len(tensors) for tensors in pixels], vectors)

    @staticmethod
    def _hand_out(batch: list[Pending[Any]], counts: list[int], vectors: np.ndarray) -> None:
        start = 0
        for pending, count in zip(batch, counts, strict=True):
            rows = vectors[start : start + count]
            start += count
            if np.isfinite(rows).all():
                pending.resolve(rows)
            else:
                pending.fail(FloatingPointError("CLIP produced non-finite vectors for this input"))


class BatchedTextGenerator(_Delegating):
    """A TextGenerator whose generations share one sampling loop across callers."""

    def __init__(self, inner: Any, *, window_s: float, max_size: int) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.lane = lane_for(inner)  # each token's step runs there, so other roles' calls fit in between
        self.batcher = Batcher("llm", self._run, window_s=window_s, max_size=max_size)
        self.batchers = [self.batcher]

    def generate(
        self,
        prompt: Prompt,
        *,
        max_new_tokens: int,
        top_p: float,
        seed: int,
        cancel: threading.Event | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> str:
        """The completion of `prompt`, exactly as the wrapped generator would sample it alone; `on_text`
        gets its new words as they are written (engine/models/streaming.py)."""
        row = self.inner.text_row(
            prompt, max_new_tokens=max_new_tokens, top_p=top_p, seed=seed, cancel=cancel, on_text=on_text
        )
        return self.inner.completion_text(self.batcher(row, cancel=cancel))

    def _run(self, batch: list[Pending[Any]]) -> None:
        pendings = list(batch)

        def admit(room: int) -> list[Any]:
            # requests that arrived while this loop runs join it between tokens (iteration-level batching)
            joining = self.batcher.adopt(None, room)
            pendings.extend(joining)
            return [p.request for p in joining]

        self.inner.generate_rows(
            [p.request for p in batch], on_row_done=lambda i, out: settle(pendings[i], out),
            admit=admit, max_rows=self.batcher.max_size, compute=self.lane,
        )


@dataclass
class ImageJob:
    """One image to generate; jobs with the same `key` can share a denoising loop."""

    prompt: str
    seed: int
    steps: int
    guidance: float
    fast: bool
    on_step: ProgressCallback | None
    cancel: threading.Event | None

    @property
    def key(self) -> tuple[int, float, bool]:
        """What every image in one diffusers call must share."""
        return (self.steps, self.guidance, self.fast)


class BatchedImageGenerator(_Delegating):
    """An ImageGenerator whose generations with the same steps, guidance and mode share one loop."""

    def __init__(self, inner: Any, *, window_s: float, max_size: int) -> None:
        self.inner = inner
        self.model_id, self.supports_fast = inner.model_id, inner.supports_fast
        lane = lane_for(inner)
        self.batcher: Batcher[ImageJob] = Batcher(
            "diffusion", lambda b: lane(self._run, b), window_s=window_s, max_size=max_size, key=lambda j: j.key
        )
        self.batchers = [self.batcher]

    def truncate_prompt(self, prompt: str) -> str:
        """The prompt cut to the text encoder's token limit."""
        return self.inner.truncate_prompt(prompt)

    def generate(
        self,
        prompt: str,
        *,
        seed: int,
        steps: int,
        guidance: float,
        fast: bool = False,
        on_step: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Image.Image:
        """One RGB image; the same pixels as the wrapped generator gives alone (to float rounding)."""
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if fast and not self.supports_fast:
            raise ValueError("fast=True needs an LCM-LoRA; none is configured (MIRAGE_LCM_LORA)")
        job = ImageJob(prompt, seed, steps, float(guidance), fast, on_step, cancel)
        return self.batcher(job, cancel=cancel)

    def _run(self, batch: list[Pending[ImageJob]]) -> None:
        jobs = [p.request for p in batch]
        first = jobs[0]
        self.inner.generate_batch(
            [j.prompt for j in jobs], seeds=[j.seed for j in jobs], steps=first.steps, guidance=first.guidance,
            fast=first.fast, on_steps=[j.on_step for j in jobs], cancels=[j.cancel for j in jobs],
            on_done=lambda i, out: settle(batch[i], out),
        )


def batched(role: str, model: Any, *, window_ms: float, max_size: int) -> Any:
    """`model` (a loaded ClipEncoder, TextGenerator or ImageGenerator) behind its role's batcher."""
    wrappers = {"clip": BatchedClip, "llm": BatchedTextGenerator, "diffusion": BatchedImageGenerator}
    if role not in wrappers:
        raise ValueError(f"role: one of {', '.join(wrappers)} (got {role!r})")
    return wrappers[role](model, window_s=window_ms / 1000.0, max_size=max_size)
