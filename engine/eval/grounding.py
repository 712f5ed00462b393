"""Follow-up grounding: asked about atlas images, does the LLM cite them, and how often does code step in?

For each sampled caption of the split, its context is what a search thread would hold: the split's
images nearest to the caption's CLIP text vector (exact search). A follow-up question from a fixed
list (rotated by a seeded draw) goes through the engine's own AskPipeline: captions numbered
[1]…[k], the LLM's answer, citations kept only within 1…k. Counted:

- grounded: answers with at least one valid citation (and words besides the markers), shown as is;
- fell back: answers replaced by the numbered captions (nothing valid cited, or the LLM failed);
- citations dropped as out of range (e.g. [0], [7] with three sources), and malformed markers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from engine.models.base import TextGenerator
from engine.pipelines.ask import AskPipeline
from engine.store.base import AtlasPayload, StoredHit

from .data import EvalSplit

QUESTIONS = (
    "What does this image show?",
    "Which imaging modality is this, and what is the main finding?",
    "Where is the abnormality located?",
    "What could this finding be, and what would you look at next?",
)
EXAMPLES = 3


@dataclass
class GroundingResult:
    """Counts over the follow-up answers of the sample."""

    n: int
    context: int
    grounded: int
    fell_back: int
    citations_kept: int
    citations_dropped: int
    malformed: int
    examples: list[tuple[str, str]] = field(default_factory=list)  # (question, grounded answer)

    @property
    def grounded_share(self) -> float:
        """Share of answers with at least one valid citation."""
        return self.grounded / self.n if self.n else 0.0

    @property
    def fell_back_share(self) -> float:
        """Share of answers that fell back to the captions."""
        return self.fell_back / self.n if self.n else 0.0


def grounding_effect(split: EvalSplit, text_vectors: np.ndarray, llm: TextGenerator, indices: Sequence[int], *,
                     context: int = 3, max_new_tokens: int = 100, top_p: float = 0.92,
                     seed: int = 0) -> GroundingResult:
    """Ask one follow-up about the context of each caption at `indices`; count what the citation check did."""
    if len(indices) == 0:
        raise ValueError("grounding needs at least one question (n_ask >= 1)")
    if context < 1:
        raise ValueError(f"context: at least 1 image (got {context})")
    pipeline = AskPipeline(None, llm, max_new_tokens=max_new_tokens, top_p=top_p, default_seed=seed)
    rng = np.random.default_rng([seed, 3])
    questions = rng.integers(len(QUESTIONS), size=len(indices))
    result = GroundingResult(n=len(indices), context=min(context, len(split)), grounded=0, fell_back=0,
                             citations_kept=0, citations_dropped=0, malformed=0)
    for i, q in zip(tqdm(indices, desc="follow-up grounding (LLM)", unit="question"), questions, strict=True):
        hits = _context(split, text_vectors[i], result.context)
        answer = pipeline.answer(QUESTIONS[q], hits, seed=seed)
        result.grounded += int(answer.grounded)
        result.fell_back += int(not answer.grounded)
        result.citations_kept += len(answer.citations)
        result.citations_dropped += answer.out_of_range
        result.malformed += answer.malformed
        if answer.grounded and len(result.examples) < EXAMPLES:
            result.examples.append((QUESTIONS[q], answer.answer))
    return result


def _context(split: EvalSplit, text_vector: np.ndarray, k: int) -> list[StoredHit]:
    """The split's k images nearest to a caption's text vector, as the hits a search thread holds."""
    scores = split.image_vectors @ np.asarray(text_vector, dtype=np.float32)
    best = np.argsort(-scores, kind="stable")[:k]
    return [StoredHit(split.atlas_ids[j], float(scores[j]),
                      AtlasPayload(atlas_id=split.atlas_ids[j], caption=split.captions[j])) for j in best]
