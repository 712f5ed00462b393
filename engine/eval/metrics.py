"""Retrieval and separation metrics on plain NumPy arrays (no torch, no models).

Conventions:
- Similarities are cosine scores of unit vectors. A retrieval matrix `similarity[i, j]` scores
  text i against image j; the matched pair of text i is image i (the diagonal).
- Ranks are 1-based: rank 1 means the matched item was retrieved first.
- Ties: a retrieval that scores a wrong item exactly as high as the matched one has not found
  the match. By default (`ties="pessimistic"`) every tied wrong item counts as ranked ahead, so a
  model that gives every candidate the same score gets rank n, never rank 1. `"optimistic"` puts
  the match ahead of its ties and `"average"` takes the mean of the two (fractional ranks).
- ROC AUC is the Mann–Whitney statistic on average ranks, so a tied matched/unmatched pair counts
  one half.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

TieRule = Literal["pessimistic", "optimistic", "average"]
TIE_RULES: tuple[str, ...] = ("pessimistic", "optimistic", "average")
DEFAULT_KS: tuple[int, ...] = (1, 5, 10)


@dataclass(frozen=True)
class Summary:
    """Distribution of a set of scores."""

    n: int
    mean: float
    std: float
    min: float
    q1: float
    median: float
    q3: float
    max: float


@dataclass(frozen=True)
class RankStats:
    """Recall@k and rank statistics of one retrieval direction."""

    n_queries: int
    n_candidates: int
    recall: dict[int, float]
    mean_rank: float
    median_rank: float


@dataclass(frozen=True)
class RetrievalMetrics:
    """Both directions of a matched text–image retrieval."""

    text_to_image: RankStats
    image_to_text: RankStats


@dataclass(frozen=True)
class ThresholdResult:
    """A matched/unmatched threshold fitted on one half and scored on the other.

    When matched pairs do not score higher than unmatched ones (ROC AUC ≤ 0.5) no threshold separates
    them: `separable` is False and the threshold and accuracies are None ("not separable").
    """

    separable: bool
    threshold: float | None
    fit_accuracy: float | None
    heldout_accuracy: float | None
    n_fit: int
    n_heldout: int


def _check_tie_rule(ties: str) -> None:
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {TIE_RULES}, got {ties!r}")


def target_ranks(scores: np.ndarray, targets: np.ndarray | Sequence[int], *,
                 ties: TieRule = "pessimistic") -> np.ndarray:
    """1-based rank of column `targets[r]` within row r of a (queries × candidates) score matrix."""
    _check_tie_rule(ties)
    scores = np.atleast_2d(np.asarray(scores))
    targets = np.asarray(targets, dtype=np.int64).ravel()
    if targets.shape[0] != scores.shape[0]:
        raise ValueError(f"need one target per row: {scores.shape[0]} rows, {targets.shape[0]} targets")
    return _ranks_of_targets(scores, targets, ties)


def _ranks_of_targets(scores: np.ndarray, targets: np.ndarray, ties: TieRule) -> np.ndarray:
    target_scores = scores[np.arange(scores.shape[0]), targets][:, None]
    ahead = np.count_nonzero(scores > target_scores, axis=1)
    tied = np.count_nonzero(scores == target_scores, axis=1) - 1  # minus the target itself
    if ties == "pessimistic":
        return (1 + ahead + tied).astype(np.float64)
    if ties == "optimistic":
        return (1 + ahead).astype(np.float64)
    return 1 + ahead + tied / 2.0


def match_ranks(similarity: np.ndarray, *, ties: TieRule = "pessimistic") -> np.ndarray:
    """Rank of the diagonal (matched) column in each row of a square similarity matrix."""
    _check_tie_rule(ties)
    sim = np.asarray(similarity)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1] or sim.shape[0] == 0:
        raise ValueError(f"similarity must be a non-empty square matrix, got shape {sim.shape}")
    if not np.all(np.isfinite(sim)):
        raise ValueError("similarity contains NaN or infinite values")
    return _ranks_of_targets(sim, np.arange(sim.shape[0]), ties)


def ranks_from_embeddings(
    queries: np.ndarray, candidates: np.ndarray, *, ties: TieRule = "pessimistic", chunk: int = 1024
) -> np.ndarray:
    """Rank of candidate i for query i, computed in row chunks (no full n×n matrix in memory)."""
    _check_tie_rule(ties)
    q = np.asarray(queries, dtype=np.float32)
    c = np.asarray(candidates, dtype=np.float32)
    if q.ndim != 2 or c.ndim != 2 or q.shape != c.shape or q.shape[0] == 0:
        raise ValueError(f"queries and candidates must be matching (n, d) arrays, got {q.shape} and {c.shape}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    out = np.empty(q.shape[0], dtype=np.float64)
    for start in range(0, q.shape[0], chunk):
        stop = min(start + chunk, q.shape[0])
        scores = q[start:stop] @ c.T
        out[start:stop] = _ranks_of_targets(scores, np.arange(start, stop), ties)
    return out


def recall_at_k(ranks: np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> dict[int, float]:
    """Fraction of queries whose match is within the top k, for each k."""
    r = np.asarray(ranks, dtype=np.float64)
    if r.size == 0:
        raise ValueError("ranks is empty")
    if any(k < 1 for k in ks):
        raise ValueError(f"every k must be >= 1, got {list(ks)}")
    return {int(k): float(np.mean(r <= k)) for k in ks}


def rank_stats(ranks: np.ndarray, n_candidates: int, ks: Sequence[int] = DEFAULT_KS) -> RankStats:
    """Recall@k, mean and median rank of one direction."""
    r = np.asarray(ranks, dtype=np.float64)
    return RankStats(
        n_queries=int(r.size),
        n_candidates=int(n_candidates),
        recall=recall_at_k(r, ks),
        mean_rank=float(np.mean(r)),
        median_rank=float(np.median(r)),
    )


def retrieval_metrics(
    similarity: np.ndarray, *, ks: Sequence[int] = DEFAULT_KS, ties: TieRule = "pessimistic"
) -> RetrievalMetrics:
    """Text→image (rows) and image→text (columns) metrics of a text×image similarity matrix."""
    sim = np.asarray(similarity)
    n = sim.shape[0] if sim.ndim == 2 else 0
    return RetrievalMetrics(
        text_to_image=rank_stats(match_ranks(sim, ties=ties), n, ks),
        image_to_text=rank_stats(match_ranks(sim.T, ties=ties), n, ks),
    )


def retrieval_metrics_from_embeddings(
    text: np.ndarray, image: np.ndarray, *, ks: Sequence[int] = DEFAULT_KS, ties: TieRule = "pessimistic"
) -> RetrievalMetrics:
    """Same as `retrieval_metrics(text @ image.T)`, computed in chunks for large splits."""
    n = np.asarray(text).shape[0]
    return RetrievalMetrics(
        text_to_image=rank_stats(ranks_from_embeddings(text, image, ties=ties), n, ks),
        image_to_text=rank_stats(ranks_from_embeddings(image, text, ties=ties), n, ks),
    )


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values`, ties given the mean of the ranks they span."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # 1-based rank of the last member of each tie group
    mean_rank = ends - (counts - 1) / 2.0
    return mean_rank[inverse]


def _scores(name: str, values: np.ndarray | Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def roc_auc(matched: np.ndarray | Sequence[float], unmatched: np.ndarray | Sequence[float]) -> float:
    """Probability that a matched score beats an unmatched one (ties count 1/2)."""
    pos, neg = _scores("matched", matched), _scores("unmatched", unmatched)
    ranks = _average_ranks(np.concatenate([pos, neg]))
    rank_sum = ranks[: pos.size].sum()
    return float((rank_sum - pos.size * (pos.size + 1) / 2.0) / (pos.size * neg.size))


def roc_curve(
    matched: np.ndarray | Sequence[float], unmatched: np.ndarray | Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) as the threshold sweeps from high to low."""
    pos, neg = _scores("matched", matched), _scores("unmatched", unmatched)
    thresholds = np.unique(np.concatenate([pos, neg]))[::-1]
    tpr = np.array([0.0] + [np.mean(pos >= t) for t in thresholds])
    fpr = np.array([0.0] + [np.mean(neg >= t) for t in thresholds])
    return fpr, tpr


def best_threshold(
    matched: np.ndarray | Sequence[float], unmatched: np.ndarray | Sequence[float]
) -> tuple[float, float]:
    """The threshold t (predict "matched" when score >= t) with the best accuracy, and that accuracy.

    Candidates are the observed scores and the midpoints between consecutive distinct ones, so the
    threshold always lies within the scores (for cosine similarities, within [-1, 1]); among equally
    accurate thresholds the lowest is returned.
    """
    pos, neg = _scores("matched", matched), _scores("unmatched", unmatched)
    values = np.unique(np.concatenate([pos, neg]))
    candidates = np.unique(np.concatenate([values, (values[:-1] + values[1:]) / 2.0]))
    pos_sorted, neg_sorted = np.sort(pos), np.sort(neg)
    # matched at or above t are right; unmatched below t are right
    pos_right = pos.size - np.searchsorted(pos_sorted, candidates, side="left")
    neg_right = np.searchsorted(neg_sorted, candidates, side="left")
    accuracy = (pos_right + neg_right) / (pos.size + neg.size)
    best = int(np.argmax(accuracy))
    return float(candidates[best]), float(accuracy[best])


def threshold_accuracy(
    matched: np.ndarray | Sequence[float], unmatched: np.ndarray | Sequence[float], threshold: float
) -> float:
    """Accuracy of "matched iff score >= threshold"."""
    pos, neg = _scores("matched", matched), _scores("unmatched", unmatched)
    right = np.count_nonzero(pos >= threshold) + np.count_nonzero(neg < threshold)
    return float(right / (pos.size + neg.size))


def heldout_threshold(
    matched: np.ndarray | Sequence[float], unmatched: np.ndarray | Sequence[float], *, seed: int = 0
) -> ThresholdResult:
    """Fit the best threshold on a random half of each class; report accuracy on the other half.

    Not separable (no threshold) when matched pairs do not outscore unmatched ones: ROC AUC ≤ 0.5.
    """
    pos, neg = _scores("matched", matched), _scores("unmatched", unmatched)
    if pos.size < 2 or neg.size < 2:
        raise ValueError(f"need at least 2 matched and 2 unmatched scores, got {pos.size} and {neg.size}")
    rng = np.random.default_rng(seed)
    pos, neg = rng.permutation(pos), rng.permutation(neg)
    pos_fit, pos_held = pos[: pos.size // 2], pos[pos.size // 2 :]
    neg_fit, neg_held = neg[: neg.size // 2], neg[neg.size // 2 :]
    n_fit, n_heldout = int(pos_fit.size + neg_fit.size), int(pos_held.size + neg_held.size)
    if roc_auc(pos, neg) <= 0.5:
        return ThresholdResult(False, None, None, None, n_fit, n_heldout)
    threshold, fit_accuracy = best_threshold(pos_fit, neg_fit)
    return ThresholdResult(
        separable=True,
        threshold=threshold,
        fit_accuracy=fit_accuracy,
        heldout_accuracy=threshold_accuracy(pos_held, neg_held, threshold),
        n_fit=n_fit,
        n_heldout=n_heldout,
    )


def summarize(values: np.ndarray | Sequence[float]) -> Summary:
    """Mean, standard deviation (population) and quartiles."""
    arr = _scores("values", values)
    q1, median, q3 = np.percentile(arr, [25, 50, 75])
    return Summary(
        n=int(arr.size),
        mean=float(arr.mean()),
        std=float(arr.std()),
        min=float(arr.min()),
        q1=float(q1),
        median=float(median),
        q3=float(q3),
        max=float(arr.max()),
    )
