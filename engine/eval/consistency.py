"""Semantic consistency (the paper's analysis): cosine similarity of matched vs unmatched pairs.

For each kind of pair — text–text, real image–caption, synthetic image–caption — row i of `left`
belongs with row i of `right`. Matched scores are cos(left_i, right_i); unmatched scores pair
left_i with right_π(i) for a seeded random derangement π (no row keeps its partner), so there is
exactly one unmatched pair per matched pair and the two classes are balanced. The question is how
well a single cosine threshold separates them: accuracy with a threshold fitted on a held-out
half, and ROC AUC over all pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import Summary, ThresholdResult, heldout_threshold, roc_auc, summarize


@dataclass
class ConsistencyResult:
    """Matched vs unmatched cosine scores of one kind of pair, and how separable they are."""

    kind: str
    description: str
    matched: np.ndarray
    unmatched: np.ndarray
    matched_summary: Summary
    unmatched_summary: Summary
    auc: float
    threshold: ThresholdResult


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random permutation of range(n) with no fixed point (n >= 2), by rejection."""
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 items, got {n}")
    while True:  # the chance of success per try tends to 1/e, so this ends fast
        perm = rng.permutation(n)
        if not np.any(perm == np.arange(n)):
            return perm


def paired_cosines(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two (n, d) arrays of unit rows."""
    a, b = np.asarray(left, dtype=np.float64), np.asarray(right, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"left and right must be (n, d) arrays of one shape, got {a.shape} and {b.shape}")
    return np.einsum("ij,ij->i", a, b)


def matched_and_unmatched(left: np.ndarray, right: np.ndarray, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(cos(left_i, right_i), cos(left_i, right_π(i))) with π a seeded derangement."""
    perm = derangement(len(left), np.random.default_rng(seed))
    return paired_cosines(left, right), paired_cosines(left, np.asarray(right)[perm])


def consistency(kind: str, description: str, left: np.ndarray, right: np.ndarray, *,
                seed: int = 0) -> ConsistencyResult:
    """Scores, their summaries, ROC AUC and held-out threshold accuracy for one kind of pair (n >= 4)."""
    if len(left) < 4:
        raise ValueError(f"{kind}: need at least 4 pairs to fit and hold out a threshold, got {len(left)}")
    matched, unmatched = matched_and_unmatched(left, right, seed=seed)
    return ConsistencyResult(
        kind=kind,
        description=description,
        matched=matched,
        unmatched=unmatched,
        matched_summary=summarize(matched),
        unmatched_summary=summarize(unmatched),
        auc=roc_auc(matched, unmatched),
        threshold=heldout_threshold(matched, unmatched, seed=seed),
    )
