"""A CLIP wrapper that counts what it embeds (and can fail on a chosen call), delegating to the real one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class EncoderStopped(RuntimeError):
    """Raised by CountingEncoder to simulate a run killed between batches."""


class CountingEncoder:
    """Delegates to a real ClipEncoder; counts images embedded. With `fail_on_call=n`, call n raises."""

    def __init__(self, inner, *, fail_on_call: int | None = None) -> None:
        self.inner = inner
        self.dim = inner.dim
        self.model_id = inner.model_id
        self.preprocess = inner.preprocess
        self.fail_on_call = fail_on_call
        self.calls = 0
        self.embedded = 0

    def encode_pixels(self, batch) -> np.ndarray:
        self._tick()
        out = self.inner.encode_pixels(batch)
        self.embedded += len(batch)
        return out

    def encode_images(self, images: Sequence) -> np.ndarray:
        self._tick()
        out = self.inner.encode_images(images)
        self.embedded += len(images)
        return out

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.encode_text(texts)

    def _tick(self) -> None:
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise EncoderStopped(f"stopped on encoder call {self.calls}")


class ImagesOnlyEncoder:
    """Only the ClipEncoder protocol (no preprocess/encode_pixels): ingestion must fall back to encode_images."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.dim = inner.dim
        self.model_id = inner.model_id
        self.embedded = 0

    def encode_images(self, images: Sequence) -> np.ndarray:
        self.embedded += len(images)
        return self.inner.encode_images(images)

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.encode_text(texts)
