"""Top-k from the atlas with near-duplicates folded, shared by every pipeline.

ROCO holds many near-identical figures (the same image in several articles); showing four copies
of one picture wastes the user's k. The store is asked for a few extra hits so folding can still
fill k.
"""

from __future__ import annotations

import numpy as np

from engine.config import EngineSettings
from engine.contract import MODALITIES
from engine.store.base import AtlasStore, StoredHit
from engine.store.dedup import fold_near_duplicates

from .results import InvalidInput

EXTRA_HITS = 4
MAX_HITS = 256


class Retriever:
    """Cosine top-k over the atlas, near-duplicates folded, optionally within one modality."""

    def __init__(self, store: AtlasStore, *, dedup_threshold: float):
        self.store = store
        self.dedup_threshold = dedup_threshold

    @classmethod
    def from_settings(cls, store: AtlasStore, settings: EngineSettings) -> Retriever:
        """A retriever with the dedup threshold of `settings` (the store already has its search effort)."""
        return cls(store, dedup_threshold=settings.dedup_threshold)

    def top_k(self, vector: np.ndarray, k: int, *, modality: str | None = None) -> list[StoredHit]:
        """The k best distinct hits for a unit `vector`, best first."""
        if k < 1:
            raise InvalidInput(f"k: at least 1 (got {k})")
        if modality is not None and modality not in MODALITIES:
            raise InvalidInput(f"modality: one of {', '.join(MODALITIES)} (got {modality!r})")
        wanted = k + EXTRA_HITS
        while True:
            hits = self.store.search(vector, wanted, modality=modality, with_vectors=True)
            kept = fold_near_duplicates(hits, self.dedup_threshold)
            # many copies of one figure: ask for more, while the atlas has more to give
            if len(kept) >= k or len(hits) < wanted or wanted >= MAX_HITS:
                return kept[:k]
            wanted = min(wanted * 2, MAX_HITS)
