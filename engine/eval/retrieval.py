"""Text→image and image→text retrieval on a split: the whole split, and the 2,000-pair protocol.

The literature on ROCO reports Recall@k on random subsets of 2,000 test pairs (retrieval among
those 2,000 only), which makes figures comparable across splits of different sizes; we average
over a few seeded draws. Figures published for the checkpoint are listed beside ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .metrics import DEFAULT_KS, RankStats, RetrievalMetrics, TieRule, retrieval_metrics_from_embeddings


@dataclass(frozen=True)
class PublishedFigure:
    """A figure someone else reported, for reference next to ours."""

    source: str
    split: str
    direction: str  # "text_to_image" | "image_to_text"
    k: int
    recall: float


# Model card of hf-hub:luhuitong/CLIP-ViT-L-14-448px-MedICaT-ROCO (ROCO validation split).
PUBLISHED: tuple[PublishedFigure, ...] = (
    PublishedFigure("model card, luhuitong/CLIP-ViT-L-14-448px-MedICaT-ROCO", "validation", "image_to_text", 10, 0.675),
    PublishedFigure("model card, luhuitong/CLIP-ViT-L-14-448px-MedICaT-ROCO", "validation", "text_to_image", 10, 0.679),
)


@dataclass
class ProtocolResult:
    """Recall@k and mean rank averaged over `draws` random subsets of `size` pairs."""

    size: int
    draws: int
    seed: int
    per_draw: list[RetrievalMetrics]
    mean: dict[str, dict[str, float]] = field(default_factory=dict)  # direction -> metric -> mean
    std: dict[str, dict[str, float]] = field(default_factory=dict)
    note: str = ""


def whole_split(text: np.ndarray, image: np.ndarray, *, ks: Sequence[int] = DEFAULT_KS,
                ties: TieRule = "pessimistic") -> RetrievalMetrics:
    """Both directions over every pair of the split (each query against all n candidates)."""
    return retrieval_metrics_from_embeddings(text, image, ks=ks, ties=ties)


def protocol_subsets(n: int, size: int, draws: int, seed: int) -> list[np.ndarray]:
    """`draws` seeded random subsets of `size` of range(n); one subset of everything when n <= size."""
    if size < 2:
        raise ValueError(f"pairs: at least 2 (got {size})")
    if draws < 1:
        raise ValueError(f"draws: at least 1 (got {draws})")
    if n <= size:
        return [np.arange(n)]
    return [np.sort(np.random.default_rng(seed + d).choice(n, size=size, replace=False)) for d in range(draws)]


def protocol(text: np.ndarray, image: np.ndarray, *, size: int = 2000, draws: int = 5, seed: int = 0,
             ks: Sequence[int] = DEFAULT_KS, ties: TieRule = "pessimistic") -> ProtocolResult:
    """The 2,000-pair protocol: retrieval within random subsets, averaged over draws."""
    n = len(text)
    subsets = protocol_subsets(n, size, draws, seed)
    per_draw = [retrieval_metrics_from_embeddings(text[s], image[s], ks=ks, ties=ties) for s in subsets]
    result = ProtocolResult(size=min(size, n), draws=len(subsets), seed=seed, per_draw=per_draw)
    if n <= size:
        result.note = f"the split has only {n} pairs (≤ {size}), so the protocol is the whole split"
    for direction in ("text_to_image", "image_to_text"):
        table = np.array([list(flat_stats(getattr(m, direction)).values()) for m in per_draw])
        keys = list(flat_stats(getattr(per_draw[0], direction)))
        result.mean[direction] = dict(zip(keys, table.mean(axis=0).tolist(), strict=True))
        result.std[direction] = dict(zip(keys, table.std(axis=0).tolist(), strict=True))
    return result


def flat_stats(stats: RankStats) -> dict[str, float]:
    """R@k, mean_rank and median_rank of one direction as a flat dict (for tables)."""
    out = {f"R@{k}": v for k, v in stats.recall.items()}
    out["mean_rank"] = stats.mean_rank
    out["median_rank"] = stats.median_rank
    return out

