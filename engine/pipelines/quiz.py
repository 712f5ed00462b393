"""Quiz (docs/ARCHITECTURE.md §7): an atlas image with its caption hidden, and choices to pick from.

    seed ──▶ item: a fixed walk over the usable items (engine/pipelines/quiz_items.py)
    caption kind:  the item's CLIP image vector ──▶ the atlas images nearest to it (hard negatives)
                   ──their captions, minus near-duplicates (CLIP text cosine)──▶ distractors
    modality kind: the item's modality against other modalities
    choices shuffled by the seed ──▶ question, choices (display text + full text), answer, hint ladder
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

import numpy as np

from engine.atlas.modality import derive_modality
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

from .quiz_items import ItemPools, caption_problem
from .results import InvalidInput, Stopwatch, check_seed

KINDS = ("caption", "modality")
QUESTIONS = {"caption": "Which caption belongs to this image?", "modality": "Which imaging modality made this image?"}
MODALITY_NAMES = {"x-ray": "X-ray", "ct": "CT", "mri": "MRI", "ultrasound": "Ultrasound",
                  "angiography": "Angiography", "nuclear": "Nuclear medicine"}
# Hard negatives are looked for among this many nearest images at first, doubling up to the maximum.
FIRST_CANDIDATES, MAX_CANDIDATES = 24, 256
# Items tried after the seeded one when an item has too few distinct neighbours (deterministic).
ITEM_ATTEMPTS = 5
ANSWER_HINT_WORDS = 4
REGIONS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(pattern, re.IGNORECASE)) for name, pattern in (
    ("head and brain", r"\b(?:brain|head|skull|cerebr\w*|intracranial|cranial)\b"),
    ("face and sinuses", r"\b(?:sinus\w*|orbit\w*|mandib\w*|maxill\w*|dental|teeth|tooth)\b"),
    ("neck", r"\b(?:neck|thyroid|cervical|larynx|pharyn\w*)\b"),
    ("spine", r"\b(?:spine|spinal|vertebr\w*|lumbar|thoracic spine|disc)\b"),
    ("chest", r"\b(?:chest|thora\w*|lungs?|pulmonary|pleura\w*|mediastin\w*|heart|cardiac)\b"),
    ("breast", r"\b(?:breast|mammar\w*)\b"),
    ("abdomen", r"\b(?:abdom\w*|liver|hepat\w*|spleen|pancrea\w*|kidneys?|renal|bowel|colon|stomach|gall\w*)\b"),
    ("pelvis", r"\b(?:pelvi\w*|bladder|uter\w*|ovar\w*|prostat\w*)\b"),
    ("upper limb", r"\b(?:shoulder|humer\w*|elbow|forearm|radius|ulna|wrist|hand|fingers?)\b"),
    ("lower limb", r"\b(?:hip|femur|femoral|knee|tibia\w*|fibula\w*|ankle|foot|toes?)\b"),
))


class QuizUnavailable(InvalidInput):
    """The atlas cannot make this quiz (too few usable items); the message lists what is available."""


@dataclass
class QuizOption:
    """One choice: the text to display, the full text, and whose caption it is (caption quizzes)."""

    text: str
    full_text: str
    atlas_id: str | None = None


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
    timings_ms: dict[str, float] = field(default_factory=dict)


class QuizPipeline:
    """Quiz questions from the atlas, reproducible under a seed."""

    def __init__(self, clip: ClipEncoder, store: AtlasStore, *, dedup_threshold: float,
                 pools: ItemPools | None = None) -> None:
        self.clip = clip
        self.store = store
        self.dedup_threshold = dedup_threshold
        self.pools = pools or _POOLS

    @classmethod
    def from_settings(cls, clip: ClipEncoder, store: AtlasStore, settings: EngineSettings) -> QuizPipeline:
        """The pipeline with the atlas's near-duplicate threshold."""
        return cls(clip, store, dedup_threshold=settings.dedup_threshold)

    def __call__(self, *, modality: str | None = None, seed: int | None = None, choices: int = 4,
                 kind: str = "caption") -> QuizResult:
        """One question; raises QuizUnavailable (listing usable items per modality) when it cannot be made."""
        watch = Stopwatch()
        # 1. Check inputs; no seed → a random one, returned so the question can be replayed
        self.check_inputs(modality, seed, choices, kind)
        seed = secrets.randbelow(SEED_MAX + 1) if seed is None else seed

        # 2. The usable items of the modality (cached per atlas)
        with watch("items"):
            walk = self.items(modality, kind, choices)

        # 3. The item at the seed's place in the walk, and its distractors (the next item if it has too few)
        with watch("distractors"):
            for attempt in range(min(ITEM_ATTEMPTS, len(walk))):
                item = self._fetch(walk[(seed + attempt) % len(walk)])
                wrong = self.caption_distractors(item, choices - 1, modality) if kind == "caption" \
                    else self.modality_distractors(item, choices - 1, seed)
                if len(wrong) == choices - 1:
                    break
            else:
                raise QuizUnavailable(f"choices: the atlas has too few distinct captions near these items for "
                                      f"{choices} choices; try fewer choices or another modality")

        # 4. Shuffle the choices by the seed; the hint ladder
        right = _right_option(item, kind)
        order = np.random.default_rng([seed, 1]).permutation(choices)
        options = [right, *wrong]
        shuffled = [options[i] for i in order]
        return QuizResult(kind=kind, item=item, question=QUESTIONS[kind], choices=shuffled,
                          answer=int(np.flatnonzero(order == 0)[0]), hints=hint_ladder(item, kind),
                          seed=seed, timings_ms=watch.total())

    def check_inputs(self, modality: str | None, seed: int | None, choices: int, kind: str) -> None:
        """Raise InvalidInput naming the field and the limit."""
        if kind not in KINDS:
            raise InvalidInput(f"kind: one of {', '.join(KINDS)} (got {kind!r})")
        if modality is not None and modality not in MODALITIES:
            raise InvalidInput(f"modality: one of {', '.join(MODALITIES)} (got {modality!r})")
        if kind == "modality" and modality == "other":
            raise InvalidInput("modality: a modality quiz needs a known modality, not 'other'")
        if not QUIZ_CHOICES_MIN <= choices <= QUIZ_CHOICES_MAX:
            raise InvalidInput(f"choices: between {QUIZ_CHOICES_MIN} and {QUIZ_CHOICES_MAX} (got {choices})")
        check_seed(seed)

    def items(self, modality: str | None, kind: str, choices: int) -> list[str]:
        """The walk of usable item ids; QuizUnavailable when there are fewer than `choices`."""
        pool = self.pools.get(self.store)
        walk = pool.ids(modality, known_modality=kind == "modality")
        if len(walk) < choices:
            counts = pool.counts()
            available = ", ".join(f"{m} {n}" for m, n in counts.items()) or "none"
            wanted = repr(modality) if modality else "the atlas"
            raise QuizUnavailable(f"modality: {wanted} has {len(walk)} usable quiz items, a quiz needs at least "
                                  f"{choices}; usable items per modality: {available}")
        return walk

    def caption_distractors(self, item: StoredHit, n: int, modality: str | None) -> list[QuizOption]:
        """Captions of the images nearest to the item in CLIP image space, none a near-duplicate."""
        if item.vector is None:
            raise RuntimeError(f"the store returned no vector for {item.atlas_id}")
        text_vectors: dict[str, np.ndarray] = {}
        wanted = FIRST_CANDIDATES
        while True:
            near = self.store.search(item.vector, wanted, modality=modality)
            picked = self._distinct(item, near, n, text_vectors)
            if len(picked) == n or len(near) < wanted or wanted >= MAX_CANDIDATES:
                return picked
            wanted = min(wanted * 2, MAX_CANDIDATES)

    def _distinct(self, item: StoredHit, near: list[StoredHit], n: int,
                  text_vectors: dict[str, np.ndarray]) -> list[QuizOption]:
        """The first `n` candidates, in image-similarity order, that are usable and not near-duplicates."""
        candidates = [h for h in near if h.atlas_id != item.atlas_id and h.score < self.dedup_threshold
                      and caption_problem(h.payload.caption) is None]
        texts = [_flat(item.payload.caption), *(_flat(h.payload.caption) for h in candidates)]
        new = [t for t in dict.fromkeys(texts) if t not in text_vectors]
        if new:
            text_vectors.update(zip(new, np.asarray(self.clip.encode_text(new), dtype=np.float32), strict=True))
        kept: list[str] = [texts[0]]  # the right caption first: nothing may come near it
        picked: list[QuizOption] = []
        for hit, text in zip(candidates, texts[1:], strict=True):
            if len(picked) == n:
                break
            if any(text.lower() == k.lower() or float(text_vectors[text] @ text_vectors[k]) > self.dedup_threshold
                   for k in kept):
                continue
            kept.append(text)
            picked.append(QuizOption(shorten(text), text, hit.atlas_id))
        return picked

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


def hint_ladder(item: StoredHit, kind: str) -> list[str]:
    """Hints from least to most telling: modality → region/keywords → the first words of the answer.

    A modality quiz skips the first rung (it is the answer) and ends with the answer's first letters.
    """
    payload = item.payload
    caption = _flat(payload.caption)
    rungs = []
    if kind == "caption":
        name = MODALITY_NAMES.get(payload.modality, "other (not one of the common modalities)")
        rungs.append(f"Modality: {name}")
    # keywords naming the modality would give a modality question away
    keywords = [k for k in payload.keywords if k.strip() and derive_modality(k) == "other"][:4]
    region = next((name for name, pattern in REGIONS if pattern.search(caption)), None)
    parts = ([f"Region: {region}"] if region else []) + ([f"Keywords: {', '.join(keywords)}"] if keywords else [])
    rungs.append(" · ".join(parts) if parts else "Region: not named in the caption")
    if kind == "caption":
        words = caption.split()
        rungs.append(f"The answer begins: “{' '.join(words[:ANSWER_HINT_WORDS])}…”")
    else:
        name = MODALITY_NAMES[payload.modality]
        rungs.append(f"The answer begins with “{name[:2]}…”")
    return rungs


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
    return QuizOption(shorten(caption), caption, item.atlas_id)


def _flat(text: str) -> str:
    return " ".join(text.split())
