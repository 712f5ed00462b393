"""More like this: an atlas image's stored CLIP vector → the nearest other atlas images.

The vector is the one indexed for the image, so nothing is downloaded, decoded or re-embedded.
The image itself and its near-copies (cosine at or above the dedup threshold) are left out: they
are what the user is already looking at.
"""

from __future__ import annotations

import numpy as np

from engine.contract import K_DEFAULT

from .results import ImageSearchResult, Stopwatch, check_k
from .retrieval import Retriever


class SimilarPipeline:
    """Top-k atlas images nearest to one atlas image."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever

    def __call__(self, atlas_id: str, *, k: int = K_DEFAULT, modality: str | None = None) -> ImageSearchResult | None:
        """The k nearest distinct other atlas images, best first; None when `atlas_id` is not in the atlas."""
        watch = Stopwatch()
        # 1. Check inputs
        check_k(k)

        # 2. The image's stored vector
        with watch("lookup"):
            found = self.retriever.store.retrieve([atlas_id], with_vectors=True)
        if not found or found[0].vector is None:
            return None
        vector = np.asarray(found[0].vector, dtype=np.float32)

        # 3. Its neighbours, one more than asked: the image itself (or a copy) comes back first
        with watch("retrieve"):
            hits = self.retriever.top_k(vector, k + 1, modality=modality)
        others = [h for h in hits if h.atlas_id != atlas_id and h.score < self.retriever.dedup_threshold]
        return ImageSearchResult(hits=others[:k], image_vector=vector, timings_ms=watch.total())
