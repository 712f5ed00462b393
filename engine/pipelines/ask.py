"""Ask (docs/ARCHITECTURE.md §7): a follow-up question answered from the atlas images a student is looking at.

    context ids ──store──▶ hits ──captions numbered [1]…[k]──┐
    earlier turns ──markers out, newest that fit the bound──▶ prompt ──LLM (seeded)──▶ answer
          ──code keeps only citations 1…k──▶ grounded answer with its sources
                                         └─ no valid citation ─▶ the numbered captions themselves

Small LLMs invent citations; the check is code (engine/pipelines/citations.py), never the prompt.
An answer that cites nothing valid is never shown as grounded: the captions are shown instead.

A follow-up carries the thread's earlier turns (question and answer), at most
`history_tokens` of the LLM's tokens: the oldest are left out first, the numbered captions never.
Their markers numbered other requests' sources, so the prompt shows them without markers, a number
outside this request's [1]…[k] is dropped (and said to come from an earlier turn when one used it),
and an answer whose only citations sit in sentences repeated from an earlier answer is not grounded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.config import EngineSettings
from engine.contract import (
    ASK_CONTEXT_MAX,
    ASK_CONTEXT_MIN,
    ASK_HISTORY_ANSWER_MAX_CHARS,
    ASK_HISTORY_MAX_TURNS,
    ASK_QUESTION_MAX_CHARS,
)
from engine.models.base import GenerationCancelled, Prompt, TextGenerator, llm_failure
from engine.models.streaming import TextHook
from engine.store.base import AtlasStore, StoredHit

from .citations import CheckedAnswer, check_citations, dropped_notes, marker_numbers, own_citations
from .prompts import EarlierTurn, ask_prompt, cut_at_end
from .results import InvalidInput, Stopwatch, check_seed

logger = logging.getLogger(__name__)


class UnknownAtlasIds(LookupError):
    """Some context ids are not in the atlas; the message names them."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        names = ", ".join(repr(i) for i in self.missing)
        super().__init__(f"context_ids: no atlas image with id {names}")


@dataclass
class AskResult:
    """The answer, its valid citations as (n, atlas id), and the context hits in prompt order."""

    question: str
    answer: str
    citations: list[tuple[int, str]]
    sources: list[StoredHit]
    grounded: bool
    prompt: Prompt | None = None
    raw: str | None = None
    out_of_range: int = 0
    malformed: int = 0
    history_used: int = 0
    history_dropped: int = 0
    notes: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)


class AskPipeline:
    """Grounded follow-ups over a fixed set of atlas hits."""

    def __init__(
        self,
        store: AtlasStore | None,
        llm: TextGenerator | None,
        *,
        max_new_tokens: int = 100,
        top_p: float = 0.92,
        default_seed: int = 0,
        llm_missing: str = "the LLM is disabled",
        history_tokens: int = 256,
    ) -> None:
        self.store = store
        self.history_tokens = history_tokens  # the earlier turns' bound, in the LLM's tokens
        self.llm = llm
        self.llm_missing = llm_missing  # why there is no LLM, for the answer's note
        self.max_new_tokens = max_new_tokens
        self.top_p = top_p
        self.default_seed = default_seed

    @classmethod
    def from_settings(cls, store: AtlasStore, llm: TextGenerator | None, settings: EngineSettings, *,
                      llm_missing: str = "the LLM is disabled") -> AskPipeline:
        """The pipeline with the generation settings the search pipeline uses too."""
        return cls(store, llm, max_new_tokens=settings.llm_max_new_tokens, top_p=settings.llm_top_p,
                   default_seed=settings.llm_seed, llm_missing=llm_missing, history_tokens=settings.ask_history_tokens)

    def __call__(
        self,
        question: str,
        context_ids: Sequence[str],
        *,
        seed: int | None = None,
        cancel: threading.Event | None = None,
        history: Sequence[EarlierTurn] = (),
        on_text: TextHook | None = None,
    ) -> AskResult:
        """Every step: check, fetch the context from the atlas, then answer from it (and the earlier turns)."""
        # 1. Check inputs
        question, ids = self.check_inputs(question, context_ids, seed)
        # 2. The context hits, in the order given (unknown ids → UnknownAtlasIds)
        context = self.fetch_context(ids)
        return self.answer(question, context, seed=seed, cancel=cancel, history=history, on_text=on_text)

    def check_inputs(self, question: str, context_ids: Sequence[str], seed: int | None) -> tuple[str, list[str]]:
        """The question on one line and the context ids without repeats; raises InvalidInput naming the field."""
        if not isinstance(question, str) or not question.strip():
            raise InvalidInput("question: must not be empty")
        if len(question) > ASK_QUESTION_MAX_CHARS:
            raise InvalidInput(f"question: at most {ASK_QUESTION_MAX_CHARS} characters (got {len(question)})")
        ids = list(dict.fromkeys(context_ids))
        if not ASK_CONTEXT_MIN <= len(ids) <= ASK_CONTEXT_MAX:
            raise InvalidInput(f"context_ids: between {ASK_CONTEXT_MIN} and {ASK_CONTEXT_MAX} distinct ids "
                               f"(got {len(ids)})")
        check_seed(seed)
        return " ".join(question.split()), ids

    @staticmethod
    def check_history(history: Sequence[EarlierTurn]) -> None:
        """Raises InvalidInput naming the limit when the earlier turns are more or longer than the contract allows."""
        if len(history) > ASK_HISTORY_MAX_TURNS:
            raise InvalidInput(f"history: at most {ASK_HISTORY_MAX_TURNS} turns (got {len(history)})")
        for n, turn in enumerate(history):
            if not turn.question.strip() or not turn.answer.strip():
                raise InvalidInput(f"history[{n}]: a turn needs its question and its answer")
            if len(turn.question) > ASK_QUESTION_MAX_CHARS:
                raise InvalidInput(f"history[{n}].question: at most {ASK_QUESTION_MAX_CHARS} characters")
            if len(turn.answer) > ASK_HISTORY_ANSWER_MAX_CHARS:
                raise InvalidInput(f"history[{n}].answer: at most {ASK_HISTORY_ANSWER_MAX_CHARS} characters")

    def bounded_history(self, history: Sequence[EarlierTurn]) -> tuple[list[EarlierTurn], int]:
        """The newest earlier turns, markers out, that fit `history_tokens` of the LLM's tokens (oldest
        first, as given), and how many older ones were left out."""
        kept: list[EarlierTurn] = []
        used = 0
        for turn in reversed(history):
            plain = EarlierTurn.plain(turn.question, turn.answer)
            used += self._tokens(plain.as_text())
            if used > self.history_tokens:
                break
            kept.append(plain)
        kept.reverse()
        return kept, len(history) - len(kept)

    def _tokens(self, text: str) -> int:
        count = getattr(self.llm, "count_tokens", None)
        return count(text) if callable(count) else -(-len(text) // 4)  # a generator without a tokenizer: ~4 chars

    def fetch_context(self, ids: Sequence[str]) -> list[StoredHit]:
        """The atlas hits for `ids`, in that order; raises UnknownAtlasIds naming every missing id."""
        if self.store is None:
            raise RuntimeError("this AskPipeline has no store; pass the context hits to answer()")
        found = {hit.atlas_id: hit for hit in self.store.retrieve(list(ids))}
        missing = [i for i in ids if i not in found]
        if missing:
            raise UnknownAtlasIds(missing)
        return [found[i] for i in ids]

    def answer(
        self,
        question: str,
        context: Sequence[StoredHit],
        *,
        seed: int | None = None,
        cancel: threading.Event | None = None,
        history: Sequence[EarlierTurn] = (),
        on_text: TextHook | None = None,
    ) -> AskResult:
        """Steps 3–6 on hits already fetched: earlier turns, prompt, generate (words to `on_text` as they
        come), keep only valid citations."""
        self.check_history(history)
        if not context:
            raise InvalidInput(f"context_ids: at least {ASK_CONTEXT_MIN} id")
        if len({hit.atlas_id for hit in context}) < len(context):
            raise InvalidInput("context_ids: the same id twice")
        watch = Stopwatch()
        sources = list(context)
        result = AskResult(question=question, answer="", citations=[], sources=sources, grounded=False)
        if self.llm is None:
            result.notes.append(f"no answer from the LLM: {self.llm_missing}; here are the captions of the sources")
            return self._captions_instead(result, watch)

        # 3. Earlier turns: without their markers, the newest that fit the token bound
        kept, result.history_dropped = self.bounded_history(history)
        result.history_used = len(kept)
        if result.history_dropped:
            result.notes.append(
                f"left out the {result.history_dropped} oldest earlier turn(s): the conversation in the prompt is "
                f"kept within {self.history_tokens} of the LLM's tokens (MIRAGE_ASK_HISTORY_TOKENS)"
            )

        # 4. Prompt: the earlier turns, the captions numbered [1]…[k], the question, the request to cite
        captions = [hit.payload.caption for hit in sources]
        result.prompt = ask_prompt(self.llm, question, captions, kept)

        # 5. Generate (seeded, so the same question on the same hits gives the same answer)
        with watch("llm"):
            result.raw = self._generate(result.prompt, seed, cancel, result.notes, on_text)
        if result.raw is None:
            return self._captions_instead(result, watch)

        # 6. Keep only citations 1…k (this request's numbering) and map each to its atlas id
        checked = check_citations(result.raw, len(sources))
        earlier = [turn.answer for turn in history]
        self._record(result, checked, marker_numbers("\n".join(earlier)))
        if not checked.grounded:
            result.notes.append("the answer cited none of the sources validly; here are their captions instead")
            return self._captions_instead(result, watch)
        if not own_citations(checked.text, earlier):
            result.notes.append("the answer's only citations were in sentences repeated from an earlier answer, "
                                "whose numbers meant other sources; here are the captions instead")
            return self._captions_instead(result, watch)
        result.answer, result.grounded = checked.text, True
        result.citations = [(n, sources[n - 1].atlas_id) for n in checked.cited]
        result.timings_ms = watch.total()
        return result

    def _generate(
        self, prompt: Prompt, seed: int | None, cancel: threading.Event | None, notes: list[str],
        on_text: TextHook | None,
    ) -> str | None:
        assert self.llm is not None
        streaming = {"on_text": on_text} if on_text is not None else {}  # fakes and old generators take none
        try:
            text = self.llm.generate(
                prompt, max_new_tokens=self.max_new_tokens, top_p=self.top_p,
                seed=self.default_seed if seed is None else seed, cancel=cancel, **streaming,
            )
        except GenerationCancelled:
            raise
        except Exception as exc:  # a broken LLM must not hide the sources: the captions still answer
            logger.exception("LLM generation failed while answering a follow-up")
            notes.append(f"the LLM failed ({llm_failure(exc)}); here are the captions of the sources")
            return None
        return cut_at_end(text or "")

    @staticmethod
    def _record(result: AskResult, checked: CheckedAnswer, earlier: set[int]) -> None:
        result.out_of_range, result.malformed = len(checked.out_of_range), len(checked.malformed)
        result.notes.extend(dropped_notes(checked, len(result.sources), earlier))

    @staticmethod
    def _captions_instead(result: AskResult, watch: Stopwatch) -> AskResult:
        """Not grounded: the answer is the numbered captions themselves, each its own citation."""
        result.grounded = False
        result.answer = "\n".join(f"[{n}] {' '.join(h.payload.caption.split())}"
                                  for n, h in enumerate(result.sources, 1))
        result.citations = []
        result.timings_ms = watch.total()
        return result
