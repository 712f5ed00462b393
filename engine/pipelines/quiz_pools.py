"""Which items a quiz asks about: a modality (or the whole atlas), a topic, a concept, or an explicit set.

    modality / atlas   the usable items (quiz_items.py), walked in a fixed pseudo-random order
    topic              the usable items nearest the topic's CLIP text vector with cosine ≥ the floor,
                       at most `topic_pool_max`, walked in the fixed order
    concept            the usable items whose caption has that CUI, walked in the fixed order
    item_ids           the given ids that are usable items, in the given order; the others are named in notes

Too few items (an unknown CUI, a topic that matches little, a modality the atlas lacks) raise
QuizUnavailable, whose message says how many there were and how many are needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.models.base import ClipEncoder
from engine.store.base import AtlasStore

from .quiz_items import ItemPool, caption_problem, walk_order

# The topic floor per profile when MIRAGE_QUIZ_TOPIC_FLOOR is unset. tiny: on the demo atlas a floor of
# 0.5 keeps pools of 11-18 images for shape and modality words at precision 0.73-0.91 (bench/README.md
# "Quiz fairness and topics"); real: CLIP ViT text-image cosines of matching pairs sit lower (about
# 0.2-0.35), not measured here (no real weights offline): check `engine eval`'s topic precision.
TOPIC_FLOORS = {"tiny": 0.5, "real": 0.2}


class QuizUnavailable(ValueError):
    """The atlas cannot make this quiz (too few usable items); the message says how many there are."""


@dataclass
class Pool:
    """The walk of item ids a quiz draws from, and what was left out of it."""

    walk: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass
class PoolFinder:
    """Resolves a request's pool against one atlas."""

    clip: ClipEncoder
    store: AtlasStore
    topic_floor: float
    topic_pool_max: int
    pool_min: int

    def modality(self, pool: ItemPool, modality: str | None, kind: str, choices: int) -> Pool:
        """The usable items of a modality (or of the atlas); at least `choices` of them."""
        walk = pool.ids(modality, known_modality=kind == "modality")
        if len(walk) < choices:
            available = ", ".join(f"{m} {n}" for m, n in pool.counts().items()) or "none"
            wanted = repr(modality) if modality else "the atlas"
            raise QuizUnavailable(f"modality: {wanted} has {len(walk)} usable quiz items, a quiz needs at least "
                                  f"{choices}; usable items per modality: {available}")
        return Pool(walk)

    def topic(self, pool: ItemPool, topic: str, modality: str | None, kind: str) -> Pool:
        """The usable items nearest the topic's CLIP text vector, above the floor."""
        vector = np.asarray(self.clip.encode_text([topic]), dtype=np.float32)[0]
        near = self.store.search(vector, self.topic_pool_max, modality=modality)
        ids = [h.atlas_id for h in near if h.score >= self.topic_floor
               and pool.usable(h.atlas_id, known_modality=kind == "modality")]
        if len(ids) < self.pool_min:
            where = f" of modality {modality!r}" if modality else ""
            raise QuizUnavailable(
                f"topic: {topic!r} matches {len(ids)} usable quiz items{where} with CLIP similarity at least "
                f"{self.topic_floor:g}; a topic quiz needs at least {self.pool_min}: try a broader topic")
        return Pool(walk_order(ids))

    def concept(self, pool: ItemPool, cui: str, modality: str | None, kind: str) -> Pool:
        """The usable items whose caption has the CUI."""
        ids = [i for i in pool.by_concept.get(cui, [])
               if pool.usable(i, known_modality=kind == "modality", modality=modality)]
        if len(ids) < self.pool_min:
            where = f" of modality {modality!r}" if modality else ""
            known = "" if pool.by_concept else " (this atlas carries no concepts: run `engine index --concepts-only`)"
            raise QuizUnavailable(
                f"concept: {cui} is on {len(ids)} usable quiz items{where}; a concept quiz needs at least "
                f"{self.pool_min}{known}")
        return Pool(ids)

    def items(self, pool: ItemPool, item_ids: list[str], modality: str | None, kind: str) -> Pool:
        """The given ids that are usable items, in the given order; notes name the ones left out."""
        wanted = list(dict.fromkeys(item_ids))
        stored = {h.atlas_id: h for h in self.store.retrieve(wanted)}
        missing = [i for i in wanted if i not in stored]
        unusable, other, walk = [], [], []
        for atlas_id in (i for i in wanted if i in stored):
            problem = caption_problem(stored[atlas_id].payload.caption)
            if problem:
                unusable.append(f"{atlas_id} ({problem})")
            elif not pool.usable(atlas_id, known_modality=kind == "modality", modality=modality):
                other.append(atlas_id)
            else:
                walk.append(atlas_id)
        notes = []
        if missing:
            notes.append(f"item_ids: not in the atlas, left out: {', '.join(missing)}")
        if unusable:
            notes.append(f"item_ids: captions unfit for a quiz, left out: {', '.join(unusable)}")
        if other:
            what = f"not of modality {modality!r}" if modality else "of no known modality"
            notes.append(f"item_ids: {what}, left out: {', '.join(other)}")
        if not walk:
            raise QuizUnavailable(f"item_ids: none of the {len(wanted)} ids is a usable quiz item; "
                                  + "; ".join(notes))
        return Pool(walk, notes)
