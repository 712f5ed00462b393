"""The evaluation, top to bottom: encode captions → retrieval → consistency → enrichment → synthetic → grounding.

    split (captions + image vectors)
      ├─ CLIP text ─▶ retrieval T→I / I→T (whole split, 2,000-pair protocol)
      ├─ real image–caption consistency (matched vs deranged pairs)
      ├─ SearchPipeline on captions ─▶ first vs second retrieval; caption–explanation consistency
      ├─ diffusion from captions ─▶ CLIP image ─▶ synthetic image–caption consistency
      └─ AskPipeline on a caption's nearest images ─▶ follow-up grounding (citations checked in code)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from engine.models.base import ClipEncoder, ImageGenerator, TextGenerator

from .consistency import ConsistencyResult, consistency
from .data import EvalSplit
from .enrichment import EnrichmentResult, enrichment_effect
from .grounding import GroundingResult, grounding_effect
from .metrics import DEFAULT_KS, RetrievalMetrics, TieRule
from .retrieval import ProtocolResult, protocol, whole_split
from .synthetic import SyntheticImages, generate_from_captions

TEXT_BATCH = 256
MIN_CONSISTENCY_PAIRS = 4


@dataclass(frozen=True)
class EvalConfig:
    """Sample sizes and seeds (every random choice is drawn from `seed`)."""

    seed: int = 0
    pairs: int = 2000
    draws: int = 5
    n_consistency: int = 2000
    n_enrich: int = 50
    n_synthetic: int = 16
    n_ask: int = 50
    ks: tuple[int, ...] = DEFAULT_KS
    ties: TieRule = "pessimistic"
    context_captions: int = 3
    max_new_tokens: int = 100
    top_p: float = 0.92
    synthetic_steps: int = 30
    synthetic_guidance: float = 7.5
    synthetic_fast: bool = False

    def __post_init__(self) -> None:
        for name in ("pairs", "draws", "n_consistency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: at least 1 (got {getattr(self, name)})")
        for name in ("n_enrich", "n_synthetic", "n_ask"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: 0 (skip) or more (got {getattr(self, name)})")


@dataclass
class EvalResults:
    """Everything the report shows."""

    split: EvalSplit
    config: EvalConfig
    models: dict[str, str]
    retrieval: RetrievalMetrics
    protocol: ProtocolResult
    consistency: list[ConsistencyResult]
    enrichment: EnrichmentResult | None
    synthetic: SyntheticImages | None
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    grounding: GroundingResult | None = None


def run_evaluation(split: EvalSplit, clip: ClipEncoder, *, llm: TextGenerator | None = None,
                   diffusion: ImageGenerator | None = None, config: EvalConfig | None = None) -> EvalResults:
    """Run every analysis the models allow; a missing LLM or diffusion model skips its part with a note."""
    config = config or EvalConfig()
    start = time.perf_counter()
    notes: list[str] = []
    # one generator per draw, so changing one sample size does not change the other samples
    rng_consistency, rng_enrich, rng_synthetic = (np.random.default_rng([config.seed, i]) for i in range(3))
    rng_ask = np.random.default_rng([config.seed, 4])

    # 1. Encode every caption with CLIP's text tower
    text = encode_captions(clip, split.captions)

    # 2. Retrieval on the whole split and on the 2,000-pair protocol
    retrieval = whole_split(text, split.image_vectors, ks=config.ks, ties=config.ties)
    proto = protocol(text, split.image_vectors, size=config.pairs, draws=config.draws, seed=config.seed,
                     ks=config.ks, ties=config.ties)

    # 3. Real image–caption consistency on a sample of pairs
    results: list[ConsistencyResult] = []
    sample = _choose(rng_consistency, len(split), config.n_consistency)
    real = _consistency_or_note(
        "real image–caption", "CLIP image vector of the atlas image vs CLIP text vector of its caption",
        split.image_vectors[sample], text[sample], config.seed, notes)

    # 4. Enrichment: first vs second retrieval; caption vs the LLM's explanation (text–text)
    enrichment = None
    if llm is None or config.n_enrich == 0:
        notes.append("enrichment and text–text consistency skipped: "
                     + ("n_enrich=0" if config.n_enrich == 0 else "no LLM"))
    else:
        queries = _choose(rng_enrich, len(split), config.n_enrich)
        enrichment = enrichment_effect(split, clip, llm, queries.tolist(), context_captions=config.context_captions,
                                       max_new_tokens=config.max_new_tokens, top_p=config.top_p,
                                       seed=config.seed, ks=config.ks, ties=config.ties)
        notes.extend(enrichment.notes)
        usable = [j for j, v in enumerate(enrichment.enriched_vectors) if v is not None]
        pair = _consistency_or_note(
            "text–text", "CLIP text vector of the caption vs CLIP text vector of the LLM's explanation of it",
            enrichment.query_vectors[usable],
            np.stack([v for v in enrichment.enriched_vectors if v is not None]) if usable else np.zeros((0, clip.dim)),
            config.seed, notes)
        if pair is not None:
            results.append(pair)
    if real is not None:
        results.append(real)

    # 5. Synthetic image–caption consistency: images generated from captions
    synthetic = None
    if diffusion is None or config.n_synthetic == 0:
        notes.append("synthetic consistency skipped: "
                     + ("n_synthetic=0" if config.n_synthetic == 0 else "no diffusion model"))
    else:
        chosen = _choose(rng_synthetic, len(split), config.n_synthetic)
        synthetic = generate_from_captions([split.captions[i] for i in chosen], diffusion, clip, seed=config.seed,
                                           steps=config.synthetic_steps, guidance=config.synthetic_guidance,
                                           fast=config.synthetic_fast)
        pair = _consistency_or_note(
            "synthetic image–caption", "CLIP image vector of an image generated from the caption vs the caption",
            synthetic.vectors, text[chosen], config.seed, notes)
        if pair is not None:
            results.append(pair)

    # 6. Follow-up grounding: answers about a caption's neighbours, citations checked in code
    grounding = None
    if llm is None or config.n_ask == 0:
        notes.append("follow-up grounding skipped: " + ("n_ask=0" if config.n_ask == 0 else "no LLM"))
    else:
        grounding = grounding_effect(split, text, llm, _choose(rng_ask, len(split), config.n_ask).tolist(),
                                     context=config.context_captions, max_new_tokens=config.max_new_tokens,
                                     top_p=config.top_p, seed=config.seed)

    return EvalResults(
        split=split, config=config,
        models={"clip": clip.model_id, "llm": getattr(llm, "model_id", "none"),
                "diffusion": getattr(diffusion, "model_id", "none")},
        retrieval=retrieval, protocol=proto, consistency=results, enrichment=enrichment, synthetic=synthetic,
        notes=notes, elapsed_s=round(time.perf_counter() - start, 1), grounding=grounding,
    )


def encode_captions(clip: ClipEncoder, captions: Sequence[str]) -> np.ndarray:
    """(n, dim) unit text vectors, with a progress bar."""
    chunks = [np.asarray(clip.encode_text(list(captions[i : i + TEXT_BATCH])), dtype=np.float32)
              for i in tqdm(range(0, len(captions), TEXT_BATCH), desc="encoding captions", unit="batch")]
    return np.concatenate(chunks)


def _choose(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """`size` distinct indices of range(n) (all of them when size >= n), sorted."""
    return np.arange(n) if size >= n else np.sort(rng.choice(n, size=size, replace=False))


def _consistency_or_note(kind: str, description: str, left: np.ndarray, right: np.ndarray, seed: int,
                         notes: list[str]) -> ConsistencyResult | None:
    if len(left) < MIN_CONSISTENCY_PAIRS:
        notes.append(f"{kind} consistency skipped: {len(left)} pairs, need {MIN_CONSISTENCY_PAIRS}")
        return None
    return consistency(kind, description, left, right, seed=seed)
