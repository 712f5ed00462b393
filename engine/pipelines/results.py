"""What the pipelines return: plain dataclasses, converted to the HTTP contract by engine/api."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from engine.contract import K_MAX, K_MIN, SEED_MAX, SEED_MIN
from engine.models.base import Prompt
from engine.store.base import StoredHit


class InvalidInput(ValueError):
    """A pipeline argument is out of range; the message names the argument and the limit."""


def check_k(k: int) -> None:
    """Raise InvalidInput unless `k` is within the contract's K_MIN…K_MAX."""
    if not K_MIN <= k <= K_MAX:
        raise InvalidInput(f"k: between {K_MIN} and {K_MAX} (got {k})")


def check_seed(seed: int | None) -> None:
    """Raise InvalidInput unless `seed` is None or within the contract's SEED_MIN…SEED_MAX."""
    if seed is not None and not SEED_MIN <= seed <= SEED_MAX:
        raise InvalidInput(f"seed: between {SEED_MIN} and {SEED_MAX} (got {seed})")


@dataclass
class SearchResult:
    """Search (docs/ARCHITECTURE.md §2): first-pass hits, the LLM's explanation and the image that best matches it."""

    query: str
    hits: list[StoredHit]
    context: list[StoredHit]
    prompt: Prompt | None
    enriched: str | None
    best: StoredHit | None
    query_vector: np.ndarray
    enriched_vector: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    # the explanation's valid citations as (n, atlas id of context[n - 1]), and whether any remained
    citations: list[tuple[int, str]] = field(default_factory=list)
    grounded: bool = False


@dataclass
class ImageSearchResult:
    """Search by image: the atlas hits nearest to the image's CLIP embedding."""

    hits: list[StoredHit]
    image_vector: np.ndarray
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class CompareResult:
    """Compare: hits for the query and for normalise(q̂ − ŝ + â), side by side."""

    query: str
    subtract: str
    add: str
    original: list[StoredHit]
    modified: list[StoredHit]
    query_vector: np.ndarray
    modified_vector: np.ndarray
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class GenerateResult:
    """Generate: the stamped synthetic image as PNG bytes, its settings and the nearest real image."""

    prompt: str
    prompt_used: str
    image: Image.Image
    png: bytes
    seed: int
    steps: int
    guidance: float
    fast: bool
    nearest: StoredHit | None
    timings_ms: dict[str, float] = field(default_factory=dict)


class Stopwatch:
    """Collects named durations in milliseconds: `with watch("encode"): ...`."""

    def __init__(self) -> None:
        self.timings_ms: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings_ms[name] = round((time.perf_counter() - start) * 1000, 2)

    def total(self) -> dict[str, float]:
        """The timings plus `total`."""
        return {**self.timings_ms, "total": round((time.perf_counter() - self._start) * 1000, 2)}
