"""Quiz (docs/ARCHITECTURE.md §7): an atlas image with its caption hidden, and choices to pick from.

    pool ──▶ the items asked about: a modality, a topic, a concept or a set of ids (quiz_pools.py)
    seed ──▶ item: a fixed walk over the pool's usable items (quiz_items.py)
    caption kind:  the item's CLIP image vector ──▶ the atlas images nearest to it (hard negatives)
                   ──only fair ones: other articles, other texts, no shared finding (quiz_fair.py)──▶ distractors
    modality kind: the item's modality against other modalities
    choices shuffled by the seed ──▶ question, choices (full text, source), answer, hint ladder (quiz_hints.py)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import numpy as np

from engine.config import EngineSettings
from engine.contract import (
    MODALITIES,
    QUIZ_CHOICE_DISPLAY_CHARS,
    QUIZ_CHOICES_MAX,
    QUIZ_CHOICES_MIN,
    SEED_MAX,
)
from engine.models.base import ClipEncoder
from engine.store.base import AtlasStore, StoredHit

from .quiz_fair import DistractorRules
from .quiz_hints import MODALITY_NAMES, Hint, hint_ladder, points_by_hints
from .quiz_items import ItemPools, caption_problem
from .quiz_pools import TOPIC_FLOORS, Pool, PoolFinder, QuizUnavailable
from .results import InvalidInput, Stopwatch, check_seed

__all__ = ["MODALITY_NAMES", "QuizPipeline", "QuizResult", "QuizUnavailable", "shorten"]

KINDS = ("caption", "modality")
QUESTIONS = {"caption": "Which caption belongs to this image?", "modality": "Which imaging modality made this image?"}
# Hard negatives are looked for among this many nearest images at first, doubling up to the maximum.
FIRST_CANDIDATES, MAX_CANDIDATES = 24, 256
# Items tried after the seeded one when an item has too few distinct neighbours (deterministic).
ITEM_ATTEMPTS = 5


@dataclass
class QuizOption:
    """One choice: the text to display, the full text, and whose caption it is (caption quizzes)."""

    text: str
    full_text: str
    atlas_id: str | None = None
    hit: StoredHit | None = None  # the atlas image whose caption this is (its source, for the reveal)


@dataclass
class QuizResult:
    """One question: the item, the shuffled choices, the right one's index and the hint ladder."""

    kind: str
    item: StoredHit
    question: str
    choices: list[QuizOption]
    answer: int
    hints: list[str]
    seed: int
    ladder: list[Hint] = field(default_factory=list)
    points: list[int] = field(default_factory=list)
    pool_size: int = 0
    notes: list[str] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)  # candidates refused as unfair, by reason
    timings_ms: dict[str, float] = field(default_factory=dict)


class QuizPipeline:
    """Quiz questions from the atlas, reproducible under a seed."""

    def __init__(self, clip: ClipEncoder, store: AtlasStore, *, dedup_threshold: float,
                 distractor_threshold: float = 0.95, topic_floor: float = TOPIC_FLOORS["real"], topic_pool_max: int = 200,
                 pool_min: int = 5, pools: ItemPools | None = None) -> None:
        self.clip = clip
        self.store = store
        self.dedup_threshold = dedup_threshold
        self.distractor_threshold = distractor_threshold
        self.pools = pools or _POOLS
        self.finder = PoolFinder(clip, store, topic_floor, topic_pool_max, pool_min)

    @classmethod
    def from_settings(cls, clip: ClipEncoder, store: AtlasStore, settings: EngineSettings) -> QuizPipeline:
        """The pipeline with the atlas's near-duplicate threshold and the quiz settings."""
        return cls(clip, store, dedup_threshold=settings.dedup_threshold,
                   distractor_threshold=settings.quiz_distractor_threshold,
                   topic_floor=settings.quiz_topic_floor if settings.quiz_topic_floor is not None
                   else TOPIC_FLOORS[settings.profile],
                   topic_pool_max=settings.quiz_topic_pool_max, pool_min=settings.quiz_pool_min)

    def __call__(self, *, modality: str | None = None, seed: int | None = None, choices: int = 4,
                 kind: str = "caption", topic: str | None = None, concept: str | None = None,
                 item_ids: list[str] | None = None) -> QuizResult:
        """One question; raises QuizUnavailable (saying how many usable items there are) when it cannot be made."""
        watch = Stopwatch()
        # 1. Check inputs; no seed → a random one, returned so the question can be replayed
        self.check_inputs(modality, seed, choices, kind, topic=topic, concept=concept, item_ids=item_ids)
        seed = secrets.randbelow(SEED_MAX + 1) if seed is None else seed

        # 2. The pool: the usable items of the modality, topic, concept or set (the atlas's are cached)
        with watch("items"):
            pool = self.pool(modality, kind, choices, topic=topic, concept=concept, item_ids=item_ids)
            walk = pool.walk

        # 3. The item at the seed's place in the walk, and its fair distractors (the next item if too few)
        rules = None
        with watch("distractors"):
            for attempt in range(min(ITEM_ATTEMPTS, len(walk))):
                item = self._fetch(walk[(seed + attempt) % len(walk)])
                rules = DistractorRules(item, self.distractor_threshold, self.dedup_threshold)
                wrong = self.caption_distractors(item, choices - 1, modality, rules) if kind == "caption" \
                    else self.modality_distractors(item, choices - 1, seed)
                if len(wrong) == choices - 1:
                    break
            else:
                raise QuizUnavailable(f"choices: the atlas has too few fair distractors near these items for "
                                      f"{choices} choices; try fewer choices or another pool")

        # 4. Shuffle the choices by the seed; the hint ladder and its points
        right = _right_option(item, kind)
        order = np.random.default_rng([seed, 1]).permutation(choices)
        options = [right, *wrong]
        shuffled = [options[i] for i in order]
        answer = int(np.flatnonzero(order == 0)[0])
        ladder = hint_ladder(item, kind, [c.full_text for c in shuffled], answer, seed)
        return QuizResult(kind=kind, item=item, question=QUESTIONS[kind], choices=shuffled, answer=answer,
                          hints=[h.text for h in ladder], seed=seed, ladder=ladder,
                          points=points_by_hints(len(ladder)), pool_size=len(walk), notes=pool.notes,
                          refused=dict(rules.refused) if rules else {}, timings_ms=watch.total())

    def check_inputs(self, modality: str | None, seed: int | None, choices: int, kind: str, *,
                     topic: str | None = None, concept: str | None = None,
                     item_ids: list[str] | None = None) -> None:
        """Raise InvalidInput naming the field and the limit."""
        if kind not in KINDS:
            raise InvalidInput(f"kind: one of {', '.join(KINDS)} (got {kind!r})")
        if modality is not None and modality not in MODALITIES:
            raise InvalidInput(f"modality: one of {', '.join(MODALITIES)} (got {modality!r})")
        if kind == "modality" and modality is not None:
            raise InvalidInput("kind, modality: a modality question takes no modality filter (its answer would "
                               "always be that modality); leave out modality or ask kind 'caption'")
        if not QUIZ_CHOICES_MIN <= choices <= QUIZ_CHOICES_MAX:
            raise InvalidInput(f"choices: between {QUIZ_CHOICES_MIN} and {QUIZ_CHOICES_MAX} (got {choices})")
        given = [name for name, value in (("topic", topic), ("concept", concept), ("item_ids", item_ids))
                 if value is not None]
        if len(given) > 1:
            raise InvalidInput(f"{', '.join(given)}: give at most one of topic, concept, item_ids")
        if topic is not None and not topic.strip():
            raise InvalidInput("topic: must not be blank")
        check_seed(seed)

    def pool(self, modality: str | None, kind: str, choices: int, *, topic: str | None = None,
             concept: str | None = None, item_ids: list[str] | None = None) -> Pool:
        """The walk of usable item ids for this request; QuizUnavailable when it holds too few."""
        items = self.pools.get(self.store)
        if topic is not None:
            return self.finder.topic(items, topic, modality, kind)
        if concept is not None:
            return self.finder.concept(items, concept, modality, kind)
        if item_ids is not None:
            return self.finder.items(items, item_ids, modality, kind)
        return self.finder.modality(items, modality, kind, choices)

    def items(self, modality: str | None, kind: str, choices: int) -> list[str]:
        """The walk of usable item ids of a modality; QuizUnavailable when there are fewer than `choices`."""
        return self.pool(modality, kind, choices).walk

    def caption_distractors(self, item: StoredHit, n: int, modality: str | None,
                            rules: DistractorRules | None = None) -> list[QuizOption]:
        """Captions of the images nearest to the item in CLIP image space that are fair (quiz_fair.py)."""
        if item.vector is None:
            raise RuntimeError(f"the store returned no vector for {item.atlas_id}")
        rules = rules or DistractorRules(item, self.distractor_threshold, self.dedup_threshold)
        text_vectors: dict[str, np.ndarray] = {}
        wanted = FIRST_CANDIDATES
        while True:
            near = self.store.search(item.vector, wanted, modality=modality)
            candidates = [(h, _flat(h.payload.caption)) for h in near if h.atlas_id != item.atlas_id
                          and h.score < self.dedup_threshold and caption_problem(h.payload.caption) is None]
            self._encode([_flat(item.payload.caption), *(t for _, t in candidates)], text_vectors)
            rules.refused.clear()
            picked = rules.pick(candidates, n, text_vectors.__getitem__)
            if len(picked) == n or len(near) < wanted or wanted >= MAX_CANDIDATES:
                return [QuizOption(shorten(text), text, hit.atlas_id, hit) for hit, text in picked]
            wanted = min(wanted * 2, MAX_CANDIDATES)

    def _encode(self, texts: list[str], cache: dict[str, np.ndarray]) -> None:
        """CLIP text vectors of the texts not yet in `cache`, added to it."""
        new = [t for t in dict.fromkeys(texts) if t not in cache]
        if new:
            cache.update(zip(new, np.asarray(self.clip.encode_text(new), dtype=np.float32), strict=True))

    def modality_distractors(self, item: StoredHit, n: int, seed: int) -> list[QuizOption]:
        """Other modalities than the item's, drawn by the seed."""
        others = [m for m in MODALITY_NAMES if m != item.payload.modality]
        drawn = np.random.default_rng([seed, 2]).permutation(len(others))[:n]
        return [QuizOption(MODALITY_NAMES[others[i]], MODALITY_NAMES[others[i]]) for i in drawn]

    def _fetch(self, atlas_id: str) -> StoredHit:
        found = self.store.retrieve([atlas_id], with_vectors=True)
        if not found:
            raise RuntimeError(f"atlas id {atlas_id} vanished from the atlas")
        return found[0]


_POOLS = ItemPools()


def shorten(text: str, limit: int = QUIZ_CHOICE_DISPLAY_CHARS) -> str:
    """`text` on one line, cut to at most `limit` characters between words, with an ellipsis when cut."""
    text = _flat(text)
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if text[limit - 1] != " " and " " in head:
        head = head.rsplit(" ", 1)[0]  # never cut a word in two
    return head.rstrip(" ,;:.-–") + "…"


def _right_option(item: StoredHit, kind: str) -> QuizOption:
    if kind == "modality":
        name = MODALITY_NAMES[item.payload.modality]
        return QuizOption(name, name)
    caption = _flat(item.payload.caption)
    return QuizOption(shorten(caption), caption, item.atlas_id, item)


def _flat(text: str) -> str:
    return " ".join(text.split())
