"""Compare (docs/ARCHITECTURE.md §2): what changes when one finding is swapped for another, by latent arithmetic.

    v = normalise(normalise(q) − normalise(s) + normalise(a))

q, s and a are the CLIP text embeddings of the query, the term to subtract and the term to add.
The reference implementation dropped the subtracted term from its image prompt; here all three
terms always take part, each normalised first so none dominates by length.
"""

from __future__ import annotations

import numpy as np

from engine.contract import QUERY_MAX_CHARS
from engine.models.base import ClipEncoder

from .results import CompareResult, InvalidInput, Stopwatch, check_k
from .retrieval import Retriever

# Below this norm the direction of q̂ − ŝ + â is rounding noise (the three terms cancel out).
MIN_NORM = 1e-4


def normalise(v: np.ndarray) -> np.ndarray:
    """`v` scaled to unit L2 norm; raises InvalidInput for a (numerically) zero vector."""
    v = np.asarray(v, dtype=np.float32)
    norm = float(np.linalg.norm(v))
    if not norm >= MIN_NORM:  # also refuses NaN
        raise InvalidInput("the terms cancel out: the modified vector is zero")
    return v / norm


def latent_arithmetic(query: np.ndarray, subtract: np.ndarray, add: np.ndarray) -> np.ndarray:
    """normalise(normalise(q) − normalise(s) + normalise(a))."""
    return normalise(normalise(query) - normalise(subtract) + normalise(add))


class ComparePipeline:
    """Hits for a query, and for the query with one term subtracted and another added."""

    def __init__(self, clip: ClipEncoder, retriever: Retriever) -> None:
        self.clip = clip
        self.retriever = retriever

    def __call__(
        self, query: str, subtract: str, add: str, *, k: int = 1, modality: str | None = None
    ) -> CompareResult:
        """Top-k for q and for the modified vector, side by side."""
        watch = Stopwatch()
        # 1. Check inputs
        query, subtract, add = self.check_inputs(query=query, subtract=subtract, add=add, k=k)

        # 2. Encode the three terms with CLIP's text tower (one batch)
        with watch("encode"):
            q, s, a = np.asarray(self.clip.encode_text([query, subtract, add]), dtype=np.float32)

        # 3. Latent arithmetic, re-normalised
        modified = latent_arithmetic(q, s, a)

        # 4. Retrieve for the original and for the modified vector
        with watch("retrieve"):
            original_hits = self.retriever.top_k(normalise(q), k, modality=modality)
            modified_hits = self.retriever.top_k(modified, k, modality=modality)
        return CompareResult(
            query=query, subtract=subtract, add=add,
            original=original_hits, modified=modified_hits,
            query_vector=normalise(q), modified_vector=modified,
            timings_ms=watch.total(),
        )

    def check_inputs(self, *, k: int, **terms: str) -> tuple[str, str, str]:
        """The stripped terms (query, subtract, add); raises InvalidInput naming the bad argument."""
        cleaned = []
        for name, text in terms.items():
            if not isinstance(text, str) or not text.strip():
                raise InvalidInput(f"{name}: must not be empty")
            if len(text) > QUERY_MAX_CHARS:
                raise InvalidInput(f"{name}: at most {QUERY_MAX_CHARS} characters (got {len(text)})")
            cleaned.append(text.strip())
        check_k(k)
        return cleaned[0], cleaned[1], cleaned[2]
