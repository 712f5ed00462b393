"""Fold near-duplicate hits: ROCO reuses figures across papers, a student should see each once."""

from __future__ import annotations

import numpy as np

from engine.store.base import StoredHit


def fold_near_duplicates(hits: list[StoredHit], threshold: float) -> list[StoredHit]:
    """The hits, best first, without any hit whose vector has cosine >= `threshold` with an
    earlier kept hit, and without repeats of an atlas id already kept.

    `hits` must be ordered best first and carry vectors (`search(..., with_vectors=True)`);
    a threshold above 1 keeps every distinct atlas id.
    """
    if not threshold >= 0.0:  # also refuses NaN
        raise ValueError(f"threshold: must be a cosine similarity >= 0, got {threshold}")
    kept: list[StoredHit] = []
    kept_ids: set[str] = set()
    kept_vectors: list[np.ndarray] = []
    for hit in hits:
        if hit.atlas_id in kept_ids:
            continue
        if hit.vector is None:
            raise ValueError(
                f"hit {hit.atlas_id!r} has no vector: search with with_vectors=True before folding duplicates"
            )
        vec = _unit(hit.vector)
        if kept_vectors and float(np.max(np.stack(kept_vectors) @ vec)) >= threshold:
            continue
        kept.append(hit)
        kept_ids.add(hit.atlas_id)
        kept_vectors.append(vec)
    return kept


def _unit(vector: np.ndarray) -> np.ndarray:
    vec = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec
