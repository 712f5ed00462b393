"""The HTTP contract between the bot and the engine (docs/ARCHITECTURE.md §5).

Pure pydantic: the bot imports this module, so it must never import torch, numpy or
anything else from the engine. Limits live here once; the engine enforces them and the
bot declares the same numbers on its slash commands so Discord enforces them too.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

# --- limits shared by engine and bot -------------------------------------------------
QUERY_MAX_CHARS = 500
K_MIN, K_MAX, K_DEFAULT = 1, 10, 4
STEPS_MIN, STEPS_MAX = 1, 100
FAST_STEPS_MIN, FAST_STEPS_MAX = 1, 8
GUIDANCE_MIN, GUIDANCE_MAX = 0.0, 20.0
SEED_MIN, SEED_MAX = 0, 2**32 - 1
EMBED_MAX_TEXTS = 64
IMAGE_MAX_BYTES = 10 * 1024 * 1024
IMAGE_MAX_PIXELS = 40_000_000

Modality = Literal["x-ray", "ct", "mri", "ultrasound", "angiography", "nuclear", "other"]
MODALITIES: tuple[str, ...] = get_args(Modality)

DISCLAIMER = "For education, not diagnosis."
SYNTHETIC_LABEL = "SYNTHETIC"

# At least one character that is not a space, where "space" is what `str.strip()` removes (Python's
# \s, with the separators \x1c-\x1f and \x85) or what a schema's ECMA-262 regex calls \s (which adds
# \ufeff): spelt out, the pattern means the same to the engine and to any schema-driven client.
NOT_BLANK_PATTERN = r"[^\s\x1c-\x1f\x85\ufeff]"

QueryText = Field(min_length=1, max_length=QUERY_MAX_CHARS, pattern=NOT_BLANK_PATTERN)

# Request bodies take what their JSON Schema allows and nothing else: no coercion (`"fast": "yes"`,
# `"k": "2"`, `"seed": true`, `"seed": 1.5` are refused), patterns checked with Python's `re`.
STRICT = ConfigDict(strict=True, regex_engine="python-re")


class RequestModel(BaseModel):
    """Base of every request body: strict, as its schema says.

    One exception to "no coercion", on purpose: JSON Schema's `integer` is any number without a
    fractional part, so `1.0` IS the integer 1 to every schema-driven client; refusing it would be
    a rejection the schema does not predict. `1.5`, `"1"` and `true` stay refused."""

    model_config = STRICT

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers_are_integers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {
            key: int(value) if isinstance(value, float) and value.is_integer() and _takes_int(cls, key) else value
            for key, value in data.items()
        }


def _takes_int(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    return field is not None and (field.annotation is int or int in get_args(field.annotation))


def steps_range(fast: bool) -> tuple[int, int]:
    """The diffusion steps allowed: FAST_STEPS_MIN..FAST_STEPS_MAX in fast mode, else STEPS_MIN..STEPS_MAX."""
    return (FAST_STEPS_MIN, FAST_STEPS_MAX) if fast else (STEPS_MIN, STEPS_MAX)


def steps_problem(steps: int, fast: bool) -> str | None:
    """Why `steps` is refused in this mode ("steps: between 1 and 8 in fast mode (got 20)"), or None."""
    low, high = steps_range(fast)
    if low <= steps <= high:
        return None
    return f"steps: between {low} and {high}{' in fast mode' if fast else ''} (got {steps})"


# --- pieces ----------------------------------------------------------------------------
class Source(BaseModel):
    """Where a real atlas image comes from: atlas id, PubMed Central id, licence and collection."""

    roco_id: str
    pmc_id: str | None = None
    licence: str | None = None
    collection: str | None = Field(default=None, description="The collection the image comes from (ROCO, ROCOv2, "
                                                                "a figure collection such as PMC-OA); null for an "
                                                                "atlas indexed before collections were recorded.")


class Concept(BaseModel):
    """One UMLS concept of an atlas caption."""

    cui: str = Field(description="UMLS concept id, e.g. C0040405.")
    name: str | None = Field(default=None, description="Its name, where the atlas's data carries one.")
    semtype: str | None = Field(default=None, description="Its semantic type (TUI, e.g. T047), where the data "
                                                          "maps CUIs to types (ROCO's files do not).")


class Hit(BaseModel):
    """One real atlas image found for a query."""

    id: str = Field(description="Atlas id (the ROCO id, e.g. ROCO_00020).")
    score: float = Field(description="Cosine similarity to the query vector.")
    caption: str
    modality: str = "other"
    source: Source
    image_url: str = Field(description="Engine path of the image bytes, e.g. /v1/atlas/ROCO_00020/image.")
    keywords: list[str] = Field(default_factory=list)
    split: str | None = None
    concepts: list[Concept] = Field(
        default_factory=list,
        description="UMLS concepts of the caption (ROCO's CUIs), in source order; empty where the atlas has none.",
    )


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable reason, e.g. invalid_input, busy, not_ready.")
    message: str = Field(description="Fit to show a user; names the field and the limit.")
    retryable: bool = Field(
        default=False,
        description="True when the same request sent again later can succeed (429 busy, 503 loading or "
        "draining, 408 body too slow); false when it never will as sent.",
    )


class ErrorBody(BaseModel):
    """Every non-2xx answer of the engine has this shape."""

    error: ErrorDetail


# --- search ----------------------------------------------------------------------------
class SearchRequest(RequestModel):
    query: str = QueryText
    k: int = Field(default=K_DEFAULT, ge=K_MIN, le=K_MAX)
    enrich: bool = True
    modality: Modality | None = None
    seed: int | None = Field(default=None, ge=SEED_MIN, le=SEED_MAX)


class SearchResponse(BaseModel):
    query: str
    enriched: str | None = Field(description="The LLM's explanation, written from the top captions.")
    best: Hit | None = Field(description="The atlas image that best matches the enriched text.")
    hits: list[Hit] = Field(description="First-pass hits for the query itself.")
    context_ids: list[str] = Field(default_factory=list, description="Hits whose captions went to the LLM.")
    citations: list[Citation] = Field(
        default_factory=list,
        description="The explanation's valid markers [n] (checked as /v1/ask's are): [n] is context_ids[n - 1].",
    )
    grounded: bool = Field(
        default=False, description="True only when the explanation cites at least one of its captions validly."
    )
    notes: list[str] = Field(
        default_factory=list, description="What fell back and why (e.g. the LLM wrote nothing usable)."
    )
    disclaimer: str = DISCLAIMER
    timings_ms: dict[str, float] = Field(default_factory=dict)


class ImageSearchResponse(BaseModel):
    hits: list[Hit]
    disclaimer: str = DISCLAIMER
    timings_ms: dict[str, float] = Field(default_factory=dict)


class SimilarRequest(RequestModel):
    """POST /v1/search/similar/{atlas_id}: the atlas images nearest to that one (itself left out)."""

    k: int = Field(default=K_DEFAULT, ge=K_MIN, le=K_MAX)
    modality: Modality | None = None


class SimilarResponse(BaseModel):
    id: str = Field(description="The atlas image whose stored vector was searched with.")
    hits: list[Hit] = Field(description="The nearest other atlas images, best first (the image and its "
                                        "near-copies left out).")
    disclaimer: str = DISCLAIMER
    timings_ms: dict[str, float] = Field(default_factory=dict)


# --- compare ---------------------------------------------------------------------------
class CompareRequest(RequestModel):
    query: str = QueryText
    subtract: str = QueryText
    add: str = QueryText
    k: int = Field(default=1, ge=K_MIN, le=K_MAX)
    modality: Modality | None = None


class HitList(BaseModel):
    hits: list[Hit]


class CompareResponse(BaseModel):
    query: str
    subtract: str
    add: str
    original: HitList
    modified: HitList
    disclaimer: str = DISCLAIMER
    timings_ms: dict[str, float] = Field(default_factory=dict)


# --- generate --------------------------------------------------------------------------
class GenerateRequest(RequestModel):
    """`steps` is 1–100, and 1–8 with `fast` (LCM-LoRA): checked here, the one place that says so."""

    model_config = ConfigDict(
        **STRICT,
        json_schema_extra={
            # fast mode narrows steps; `if`/`then` lets a schema-driven client see it (OpenAPI 3.1)
            "if": {"properties": {"fast": {"const": True}}, "required": ["fast"]},
            "then": {
                "properties": {
                    "steps": {
                        "anyOf": [{"type": "integer", "minimum": FAST_STEPS_MIN, "maximum": FAST_STEPS_MAX},
                                  {"type": "null"}]
                    }
                }
            },
        },
    )

    prompt: str = QueryText
    seed: int | None = Field(default=None, ge=SEED_MIN, le=SEED_MAX)
    steps: int | None = Field(
        default=None, ge=STEPS_MIN, le=STEPS_MAX,
        description=f"{STEPS_MIN}–{STEPS_MAX}; {FAST_STEPS_MIN}–{FAST_STEPS_MAX} with fast. Default: the engine's.",
    )
    guidance: float | None = Field(default=None, ge=GUIDANCE_MIN, le=GUIDANCE_MAX, allow_inf_nan=False)
    fast: bool = False

    @model_validator(mode="after")
    def _steps_fit_the_mode(self) -> GenerateRequest:
        problem = None if self.steps is None else steps_problem(self.steps, self.fast)
        if problem:
            raise ValueError(problem)
        return self


class GenerateResponse(BaseModel):
    prompt: str
    prompt_used: str = Field(description="The prompt as the diffusion text encoder saw it (77 tokens).")
    image_png_b64: str = Field(description="The synthetic image, stamped SYNTHETIC, as base64 PNG.")
    seed: int
    steps: int
    guidance: float
    fast: bool
    synthetic: Literal[True] = True
    nearest: Hit | None = Field(description="The real atlas image nearest to the synthetic one.")
    disclaimer: str = DISCLAIMER
    timings_ms: dict[str, float] = Field(default_factory=dict)


class ProgressEvent(BaseModel):
    """One server-sent event while generating: `event: progress`."""

    event: ClassVar[str] = "progress"
    step: int
    total: int


# --- embed -----------------------------------------------------------------------------
class EmbedRequest(RequestModel):
    texts: list[Annotated[str, QueryText]] = Field(min_length=1, max_length=EMBED_MAX_TEXTS)


class EmbedResponse(BaseModel):
    vectors: list[list[float]]
    dim: int


# --- health ----------------------------------------------------------------------------
class ReadyResponse(BaseModel):
    """Readiness. On the public /readyz `detail` holds only each component's status word
    (pending, loading, loaded, failed, disabled); GET /v1/status adds why (errors, paths)."""

    ready: bool
    loaded: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    detail: dict[str, str] = Field(default_factory=dict)
    atlas_points: int | None = None
    profile: str | None = None
    routes: dict[str, str] = Field(
        default_factory=dict,
        description="Each route family (search, ask, generate, embed) in words: `ready`, `ready: captions only "
        "(…)` for ask without its LLM, `not ready: …` while something it needs loads or the atlas is missing "
        "or empty, `unavailable: …` when something it needs failed or is switched off. `ready` above is "
        "the search family's (nothing else can be answered without it) once nothing is still loading.",
    )
    capacity: int | None = Field(
        default=None,
        description="How many requests this engine can usefully work on at once (its pipeline workers; "
        "concurrent model calls share batches). A client keeps at most this many in flight.",
    )


class NotReadyResponse(ReadyResponse):
    """/readyz while loading, degraded past use, or draining (503): the readiness and the error shape."""

    error: ErrorDetail


# --- server-sent events ----------------------------------------------------------------
# POST /v1/generate, /v1/search and /v1/ask with `Accept: text/event-stream` answer a stream of
#   event: queued    data: {"position": <int, 0 = running now>}
#   event: progress  data: {"step": n, "total": N}          (generate only)
#   event: token     data: {"text": "<new text>"}           (ask, search: the LLM's words as written,
#                                                           unchecked; the result carries the checked text)
#   event: result    data: <the route's normal JSON answer>
#   event: error     data: {"error": {"code", "message", "retryable"}, "status": <http status>}
# and ends after `result` or `error`. Without that Accept header the route answers plain JSON.
# Each event is one model below (its `event` names it); `parse_sse_event` reads any of them.
SSE_MEDIA_TYPE = "text/event-stream"
SSE_QUEUED, SSE_PROGRESS, SSE_RESULT, SSE_ERROR = "queued", "progress", "result", "error"
SSE_TOKEN = "token"
ResultT = TypeVar("ResultT", bound=BaseModel)


class QueuedEvent(BaseModel):
    """`event: queued`: the place in the waiting line (0 = running now)."""

    event: ClassVar[str] = SSE_QUEUED
    position: int


class TokenEvent(BaseModel):
    """`event: token`: text the LLM just wrote (ask, search's explanation), before any citation check."""

    event: ClassVar[str] = SSE_TOKEN
    text: str


class ResultEvent(BaseModel):
    """`event: result`: the route's normal JSON answer; read it with `parsed(SearchResponse)` and the like."""

    event: ClassVar[str] = SSE_RESULT
    body: dict[str, Any]

    def parsed(self, model: type[ResultT]) -> ResultT:
        """The answer as the route's response model (raises pydantic.ValidationError when it is not one)."""
        return model.model_validate(self.body)


class StreamError(BaseModel):
    """`event: error`: the error shape and the HTTP status the plain answer would have had."""

    event: ClassVar[str] = SSE_ERROR
    error: ErrorDetail
    status: int


SseEvent = QueuedEvent | ProgressEvent | TokenEvent | ResultEvent | StreamError


def parse_sse_event(name: str, data: str) -> SseEvent | None:
    """One event's `event:` name and `data:` text as its model; None for a name this contract does not
    know (a newer engine may add events). Raises ValueError when the data does not fit the event."""
    if name == SSE_RESULT:
        body = json.loads(data)
        if not isinstance(body, dict):
            raise ValueError(f"event {name!r}: a JSON object is expected")
        return ResultEvent(body=body)
    models: dict[str, type[QueuedEvent | ProgressEvent | TokenEvent | StreamError]] = {
        SSE_QUEUED: QueuedEvent, SSE_PROGRESS: ProgressEvent, SSE_TOKEN: TokenEvent, SSE_ERROR: StreamError}
    model = models.get(name)
    return None if model is None else model.model_validate_json(data)


# --- ask: a grounded follow-up on atlas hits --------------------------------------------
ASK_QUESTION_MAX_CHARS = 500
ASK_CONTEXT_MIN, ASK_CONTEXT_MAX = 1, 10
ATLAS_ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"

AtlasId = Annotated[str, Field(pattern=ATLAS_ID_PATTERN, description="An atlas (ROCO) id, e.g. ROCO_00020.")]
# A follow-up's earlier turns: at most this many, each answer at most this long (the engine then keeps
# the newest that fit MIRAGE_ASK_HISTORY_TOKENS of the LLM's tokens in the prompt).
ASK_HISTORY_MAX_TURNS = 20
ASK_HISTORY_ANSWER_MAX_CHARS = 4000


class AskTurn(RequestModel):
    """One earlier turn of the thread: what was asked and what was answered (its markers numbered that
    turn's sources, so the prompt shows it without them and they never count for this answer)."""

    question: str = Field(min_length=1, max_length=ASK_QUESTION_MAX_CHARS, pattern=NOT_BLANK_PATTERN)
    answer: str = Field(min_length=1, max_length=ASK_HISTORY_ANSWER_MAX_CHARS, pattern=NOT_BLANK_PATTERN)


class AskRequest(RequestModel):
    question: str = Field(min_length=1, max_length=ASK_QUESTION_MAX_CHARS, pattern=NOT_BLANK_PATTERN)
    context_ids: list[AtlasId] = Field(
        min_length=ASK_CONTEXT_MIN, max_length=ASK_CONTEXT_MAX,
        description="The atlas images the answer may use; their captions are numbered [1]…[k] in this order.",
    )
    seed: int | None = Field(default=None, ge=SEED_MIN, le=SEED_MAX)
    history: list[AskTurn] = Field(
        default_factory=list, max_length=ASK_HISTORY_MAX_TURNS,
        description="The thread's earlier turns, oldest first. The prompt keeps the newest that fit the "
                    "engine's token bound; citations are checked against this request's numbering only.",
    )


class Citation(BaseModel):
    n: int = Field(ge=1, description="The marker [n] in the answer; the source is sources[n - 1].")
    id: str = Field(description="Atlas id of the cited image.")


class AskResponse(BaseModel):
    question: str
    answer: str = Field(description="Grounded: the LLM's answer with only valid [n] markers. Otherwise the "
                                    "numbered captions themselves.")
    citations: list[Citation] = Field(default_factory=list, description="Valid citations, first use first.")
    sources: list[Hit] = Field(description="The context images in prompt order: [n] is sources[n - 1].")
    grounded: bool = Field(description="True only when the answer cites at least one source validly.")
    history_used: int = Field(default=0, description="How many of the newest earlier turns the prompt carried.")
    history_dropped: int = Field(default=0, description="How many of the oldest turns did not fit the bound.")
    notes: list[str] = Field(default_factory=list, description="What was dropped or fell back, and why.")
    disclaimer: str = DISCLAIMER
    timings_ms: dict[str, float] = Field(default_factory=dict)


# --- quiz: an atlas image, its caption hidden, choices to pick from ---------------------
QUIZ_CHOICES_MIN, QUIZ_CHOICES_MAX, QUIZ_CHOICES_DEFAULT = 3, 5, 4
QUIZ_CHOICE_DISPLAY_CHARS = 80  # Discord's button label limit; the full text travels beside it
QUIZ_TOPIC_MAX_CHARS = 200
QUIZ_ITEM_IDS_MAX = 200
CUI_PATTERN = r"^C[0-9]{7}$"
QuizKind = Literal["caption", "modality"]
QuizHintKind = Literal["shows", "strike"]

# Points for a right answer after n hints (index n); a wrong answer scores 0. The single source of the
# rule: a right answer after every hint still scores (> 0) and at most a fifth of an unhinted one, and
# guessing among the choices left after every hint is worth less than an unhinted right answer.
QUIZ_POINTS_BY_HINTS: tuple[int, ...] = (10, 7, 4, 2)
QUIZ_POINTS_WRONG = 0


def quiz_points(correct: bool, hints_taken: int, rungs: int = len(QUIZ_POINTS_BY_HINTS) - 1) -> int:
    """Points for one answer on a question whose ladder has `rungs` hints (len(QuizResponse.hints)):
    QUIZ_POINTS_BY_HINTS[hints taken] when right, and its last entry once every rung was taken (a 3-choice
    question has 2 rungs: 10, 7, then 2); QUIZ_POINTS_WRONG when wrong. QuizResponse.points_by_hints lists
    the same numbers for its question."""
    if not correct:
        return QUIZ_POINTS_WRONG
    last = len(QUIZ_POINTS_BY_HINTS) - 1
    taken = max(hints_taken, 0)
    return QUIZ_POINTS_BY_HINTS[last] if taken >= min(rungs, last) else QUIZ_POINTS_BY_HINTS[taken]


def _not_both(a: str, b: str) -> dict[str, Any]:
    """JSON Schema: not both `a` and `b` given with a value other than null."""
    given = {"not": {"type": "null"}}
    return {"not": {"required": [a, b], "properties": {a: given, b: given}}}


class QuizRequest(RequestModel):
    """Said in the schema (if/then, not) and checked here: a modality question takes no modality filter
    (its answer would always be that modality), and at most one of topic, concept, item_ids."""

    model_config = ConfigDict(
        **STRICT,
        json_schema_extra={
            "if": {"properties": {"kind": {"const": "modality"}}, "required": ["kind"]},
            "then": {"properties": {"modality": {"type": "null"}}},
            "allOf": [_not_both("topic", "concept"), _not_both("topic", "item_ids"),
                      _not_both("concept", "item_ids")],
        },
    )

    modality: Modality | None = Field(default=None, description="Quiz only images of this modality (caption "
                                                                "questions; distractors of that modality too).")
    seed: int | None = Field(default=None, ge=SEED_MIN, le=SEED_MAX,
                             description="Same seed, same item and choice order; none: a random one (returned).")
    choices: int = Field(default=QUIZ_CHOICES_DEFAULT, ge=QUIZ_CHOICES_MIN, le=QUIZ_CHOICES_MAX)
    kind: QuizKind = Field(default="caption", description="caption: which caption is this image's; "
                                                          "modality: which modality made it.")
    topic: str | None = Field(
        default=None, min_length=1, max_length=QUIZ_TOPIC_MAX_CHARS, pattern=NOT_BLANK_PATTERN,
        description="Free text: the items are the atlas images nearest the topic's CLIP text vector, above "
                    "the engine's floor (MIRAGE_QUIZ_TOPIC_FLOOR); too few answer 409 naming how many.")
    concept: str | None = Field(default=None, pattern=CUI_PATTERN,
                                description="A UMLS CUI: the items are the atlas images whose caption has it.")
    item_ids: list[AtlasId] | None = Field(
        default=None, min_length=1, max_length=QUIZ_ITEM_IDS_MAX,
        description="An explicit set of atlas ids, walked in this order (seed k asks the k-th, modulo the "
                    "set's size); ids not in the atlas are left out and named in `notes`.")

    @model_validator(mode="after")
    def _one_pool_and_no_modality_filter_on_a_modality_question(self) -> QuizRequest:
        if self.kind == "modality" and self.modality is not None:
            raise ValueError("kind, modality: a modality question takes no modality filter (its answer would "
                             "always be that modality); leave out modality or ask kind 'caption'")
        given = [name for name in ("topic", "concept", "item_ids") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"{', '.join(given)}: give at most one of topic, concept, item_ids")
        return self


class QuizChoice(BaseModel):
    text: str = Field(description=f"For display: at most {QUIZ_CHOICE_DISPLAY_CHARS} characters, cut between words.")
    full_text: str = Field(description="The whole caption (or modality name): list every choice in full.")
    id: str | None = Field(default=None, description="Atlas id whose caption this is (caption quizzes).")
    source: Source | None = Field(default=None, description="Where that atlas image comes from (caption quizzes).")
    image_url: str | None = Field(default=None, description="Engine path of that image's bytes, for the reveal "
                                                            "(caption quizzes).")


class QuizHint(BaseModel):
    """One rung of the hint ladder."""

    text: str = Field(description="What to show; never names or begins the right choice.")
    kind: QuizHintKind = Field(description="shows: what the image shows (modality for caption questions, body "
                                           "region, plane); strike: one wrong choice struck out.")
    strike: int | None = Field(default=None, description="strike: index in `choices` of the wrong choice struck "
                                                         "out (letter A = 0).")


class QuizResponse(BaseModel):
    kind: QuizKind
    item: Hit = Field(description="The quizzed image, caption included: show it only at the reveal.")
    image_url: str
    question: str
    choices: list[QuizChoice]
    answer: int = Field(description="Index of the right choice in `choices`.")
    hints: list[str] = Field(description="The ladder's texts, one rung at a time (as `hint_ladder`): what the "
                                         "image shows, then a wrong choice struck out, then a second.")
    hint_ladder: list[QuizHint] = Field(default_factory=list, description="The same rungs with their kind and "
                                                                           "the choice each strike removes.")
    points_by_hints: list[int] = Field(
        default_factory=list,
        description="Points for a right answer after n hints at index n (0 … len(hints)); a wrong answer "
                    "scores 0. The rule of engine.contract.quiz_points.")
    pool_size: int | None = Field(default=None, description="How many usable items this request's pool holds "
                                                            "(modality, topic, concept or item_ids).")
    notes: list[str] = Field(default_factory=list, description="What was left out and why (e.g. item_ids not "
                                                               "in the atlas).")
    seed: int
    disclaimer: str = DISCLAIMER
    timings_ms: dict[str, float] = Field(default_factory=dict)
