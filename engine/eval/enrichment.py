"""Does enrichment help? Recall@k of the first retrieval vs the second one, for captions as queries.

Each sampled caption goes through the engine's own SearchPipeline (encode → top hits → Dolly prompt
with the top captions → LLM → re-encode). Both retrievals are then ranked against the same pool —
the evaluated split's images — so the only difference is the text that is encoded: the caption
itself, or the LLM's explanation of it. When the LLM gives nothing usable the pipeline falls back
to the first retrieval, and so do we (counted as a fallback).

Caveat, written into the report: the caption's own image is in the pool, so its caption is often
in the LLM's context; a user's free-text query is not an atlas caption.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from engine.contract import QUERY_MAX_CHARS
from engine.models.base import ClipEncoder, TextGenerator
from engine.pipelines.search import SearchPipeline
from engine.store.base import AtlasPayload, StoredHit

from .data import EvalSplit
from .metrics import DEFAULT_KS, RankStats, TieRule, rank_stats, target_ranks


class PoolRetriever:
    """Exact cosine top-k over the evaluated split's image vectors (the Retriever interface)."""

    def __init__(self, split: EvalSplit) -> None:
        self.split = split

    def top_k(self, vector: np.ndarray, k: int, *, modality: str | None = None) -> list[StoredHit]:
        """The k images of the pool nearest to `vector`, best first (`modality` is not used)."""
        scores = self.split.image_vectors @ np.asarray(vector, dtype=np.float32)
        best = np.argsort(-scores, kind="stable")[:k]
        return [
            StoredHit(
                atlas_id=self.split.atlas_ids[i],
                score=float(scores[i]),
                payload=AtlasPayload(atlas_id=self.split.atlas_ids[i], caption=self.split.captions[i]),
                vector=self.split.image_vectors[i],
            )
            for i in best
        ]


@dataclass
class EnrichmentResult:
    """First vs second retrieval ranks of the matched image, per caption query."""

    query_indices: np.ndarray
    first_ranks: np.ndarray
    second_ranks: np.ndarray
    first: RankStats
    second: RankStats
    enriched_texts: list[str | None]
    query_vectors: np.ndarray
    enriched_vectors: list[np.ndarray | None]
    fallbacks: int
    notes: list[str] = field(default_factory=list)

    @property
    def improved(self) -> int:
        """Queries whose matched image ranks better after enrichment."""
        return int(np.count_nonzero(self.second_ranks < self.first_ranks))

    @property
    def worsened(self) -> int:
        """Queries whose matched image ranks worse after enrichment."""
        return int(np.count_nonzero(self.second_ranks > self.first_ranks))


def enrichment_effect(split: EvalSplit, clip: ClipEncoder, llm: TextGenerator, indices: Sequence[int], *,
                      context_captions: int = 3, max_new_tokens: int = 100, top_p: float = 0.92,
                      seed: int = 0, ks: Sequence[int] = DEFAULT_KS,
                      ties: TieRule = "pessimistic") -> EnrichmentResult:
    """Run the search pipeline on the captions at `indices` and rank the matched image twice."""
    if len(indices) == 0:
        raise ValueError("enrichment needs at least one query (n_enrich >= 1)")
    pool = PoolRetriever(split)
    pipeline = SearchPipeline(clip, pool, llm, context_captions=context_captions,  # type: ignore[arg-type]  # PoolRetriever serves the store's search() only
                              max_new_tokens=max_new_tokens, top_p=top_p, default_seed=seed)
    first, second, texts, query_vectors, enriched_vectors = [], [], [], [], []
    fallbacks = 0
    notes: list[str] = []
    for i in tqdm(indices, desc="enrichment (LLM)", unit="query"):
        query = split.captions[i][:QUERY_MAX_CHARS]
        result = pipeline(query, k=1, enrich=True, seed=seed)
        first_rank = _rank(split, result.query_vector, i, ties)
        if result.enriched_vector is None:
            fallbacks += 1
            second_rank = first_rank
        else:
            second_rank = _rank(split, result.enriched_vector, i, ties)
        first.append(first_rank)
        second.append(second_rank)
        texts.append(result.enriched)
        query_vectors.append(result.query_vector)
        enriched_vectors.append(result.enriched_vector)
    if fallbacks:
        notes.append(f"{fallbacks} of {len(indices)} queries got no usable explanation; "
                     "their second retrieval is the first (as in the engine)")
    first_arr, second_arr = np.array(first), np.array(second)
    return EnrichmentResult(
        query_indices=np.asarray(indices),
        first_ranks=first_arr,
        second_ranks=second_arr,
        first=rank_stats(first_arr, len(split), ks),
        second=rank_stats(second_arr, len(split), ks),
        enriched_texts=texts,
        query_vectors=np.stack(query_vectors),
        enriched_vectors=enriched_vectors,
        fallbacks=fallbacks,
        notes=notes,
    )


def _rank(split: EvalSplit, vector: np.ndarray, target: int, ties: TieRule) -> float:
    scores = split.image_vectors @ np.asarray(vector, dtype=np.float32)
    return float(target_ranks(scores[None, :], [target], ties=ties)[0])
