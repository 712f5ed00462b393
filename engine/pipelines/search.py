"""Search (docs/ARCHITECTURE.md §2): query → atlas → the top captions → LLM explanation → atlas again.

    query ──CLIP text──▶ q ──top-k──▶ hits ──captions of the top 3, numbered [1]–[3]──▶ Dolly prompt
          ──LLM──▶ enriched explanation ──citations checked as /v1/ask's──▶ cited explanation
          ──markers out, CLIP text──▶ e ──top-1──▶ best image

The explanation's markers are checked by the same code as a follow-up's (engine/pipelines/citations.py):
only [1]…[k] stay, each mapped to its context hit, and `grounded` says whether any did. The second
retrieval embeds the explanation's words without the markers, as the paper embeds its explanation.
"""

from __future__ import annotations

import logging
import re
import threading

import numpy as np

from engine.config import EngineSettings
from engine.contract import K_DEFAULT, QUERY_MAX_CHARS
from engine.models.base import ClipEncoder, GenerationCancelled, Prompt, TextGenerator, llm_failure
from engine.models.streaming import TextHook
from engine.store.base import StoredHit

from .citations import check_citations, dropped_notes, strip_markers
from .prompts import cut_at_end, explain_instruction, render_prompt
from .results import InvalidInput, SearchResult, Stopwatch, check_k, check_seed
from .retrieval import Retriever

logger = logging.getLogger(__name__)

# An explanation needs at least one real word; a random or broken LLM may answer with only
# punctuation, digits or nothing at all.
_WORD = re.compile(r"[^\W\d_]{2,}")


class SearchPipeline:
    """Text search with LLM enrichment and a second retrieval on the enriched text."""

    def __init__(
        self,
        clip: ClipEncoder,
        retriever: Retriever,
        llm: TextGenerator | None = None,
        *,
        context_captions: int = 3,
        max_new_tokens: int = 100,
        top_p: float = 0.92,
        default_seed: int = 0,
        llm_missing: str = "the LLM is disabled",
    ) -> None:
        self.clip = clip
        self.retriever = retriever
        self.llm = llm
        # Why there is no LLM (disabled, still loading, failed to load): search still answers with
        # the first-pass hits and says so, instead of failing every request.
        self.llm_missing = llm_missing
        self.context_captions = context_captions
        self.max_new_tokens = max_new_tokens
        self.top_p = top_p
        self.default_seed = default_seed

    @classmethod
    def from_settings(
        cls,
        clip: ClipEncoder,
        retriever: Retriever,
        llm: TextGenerator | None,
        settings: EngineSettings,
        *,
        llm_missing: str = "the LLM is disabled",
    ) -> SearchPipeline:
        """The pipeline with the reference parameters held in `settings`."""
        return cls(
            clip,
            retriever,
            llm,
            context_captions=settings.context_captions,
            max_new_tokens=settings.llm_max_new_tokens,
            top_p=settings.llm_top_p,
            default_seed=settings.llm_seed,
            llm_missing=llm_missing,
        )

    def __call__(
        self,
        query: str,
        *,
        k: int = K_DEFAULT,
        enrich: bool = True,
        modality: str | None = None,
        seed: int | None = None,
        cancel: threading.Event | None = None,
        on_text: TextHook | None = None,
    ) -> SearchResult:
        """Run the search; without `enrich` (or without an LLM) the best image is the top hit. The
        explanation's words go to `on_text` as the LLM writes them."""
        watch = Stopwatch()
        # 1. Check inputs
        query = self.check_inputs(query, k, seed)

        # 2. Encode the query with CLIP's text tower
        with watch("encode_query"):
            query_vector = self.encode_text(query)

        # 3. First retrieval: the atlas images nearest to the query (enough of them for the context)
        with watch("retrieve"):
            found = self.retriever.top_k(query_vector, max(k, self.context_captions), modality=modality)
        result = SearchResult(
            query=query, hits=found[:k], context=[], prompt=None, enriched=None,
            best=found[0] if found else None, query_vector=query_vector,
        )
        if not found:
            result.notes.append("the atlas has no image for this query")
        elif not enrich:
            pass
        elif self.llm is None:
            result.notes.append(f"the explanation is unavailable: {self.llm_missing}; the best image is the top hit")
        else:
            self.enrich_and_retrieve_again(result, found, modality, seed, cancel, watch, on_text)
        result.timings_ms = watch.total()
        return result

    def enrich_and_retrieve_again(
        self,
        result: SearchResult,
        found: list[StoredHit],
        modality: str | None,
        seed: int | None,
        cancel: threading.Event | None,
        watch: Stopwatch,
        on_text: TextHook | None = None,
    ) -> None:
        """Steps 4–7, filling `result` in place; falls back to the top hit when the LLM gives nothing usable."""
        # 4. Context: the captions of the top hits numbered [1]…[k], in the LLM's chat template or Dolly's format
        result.context = found[: self.context_captions]
        captions = [hit.payload.caption for hit in result.context]
        result.prompt = render_prompt(self.llm, explain_instruction(result.query, captions))

        # 5. Enrich: the LLM explains the condition from those findings, citing them
        with watch("llm"):
            enriched = self.explain(result.prompt, seed, cancel, result.notes, on_text)
        if enriched is None:
            return

        # 6. Citations: only [1]…[k] stay, each mapped to its context hit (the check /v1/ask uses)
        checked = check_citations(enriched, len(result.context))
        result.notes.extend(dropped_notes(checked, len(result.context)))
        result.enriched, result.grounded = checked.text, checked.grounded
        result.citations = [(n, result.context[n - 1].atlas_id) for n in checked.cited]

        # 7. Second retrieval: the explanation's words (markers out), re-encoded with CLIP, pick the best image
        with watch("encode_enriched"):
            result.enriched_vector = self.encode_text(strip_markers(checked.text))
        with watch("retrieve_enriched"):
            best = self.retriever.top_k(result.enriched_vector, 1, modality=modality)
        if best:
            result.best = best[0]

    def check_inputs(self, query: str, k: int, seed: int | None) -> str:
        """The stripped query; raises InvalidInput naming the bad argument."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("query: must not be empty")
        if len(query) > QUERY_MAX_CHARS:
            raise InvalidInput(f"query: at most {QUERY_MAX_CHARS} characters (got {len(query)})")
        check_k(k)
        check_seed(seed)
        return query.strip()

    def encode_text(self, text: str) -> np.ndarray:
        """One unit vector from CLIP's text tower."""
        return np.asarray(self.clip.encode_text([text])[0], dtype=np.float32)

    def explain(
        self, prompt: Prompt, seed: int | None, cancel: threading.Event | None, notes: list[str],
        on_text: TextHook | None = None,
    ) -> str | None:
        """The LLM's explanation, or None (with a note) when it fails or writes nothing usable (no word
        besides its markers)."""
        assert self.llm is not None
        streaming = {"on_text": on_text} if on_text is not None else {}  # fakes and old generators take none
        try:
            text = self.llm.generate(
                prompt,
                max_new_tokens=self.max_new_tokens,
                top_p=self.top_p,
                seed=self.default_seed if seed is None else seed,
                cancel=cancel,
                **streaming,
            )
        except GenerationCancelled:
            raise
        except Exception as exc:  # a broken LLM must not take search down with it
            logger.exception("LLM generation failed; falling back to the top hit")
            notes.append(f"the LLM failed ({llm_failure(exc)}); the best image is the top hit")
            return None
        text = cut_at_end(text or "")
        if not _WORD.search(strip_markers(text)):
            notes.append("the LLM wrote no usable explanation; the best image is the top hit")
            return None
        return text
