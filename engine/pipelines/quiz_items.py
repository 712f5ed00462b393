"""Which atlas images make good quiz questions, and a cached, seeded walk over them.

The caption filter (`caption_problem`) skips a caption that would make a bad question:
- too short (fewer than MIN_WORDS words: "Axial CT." gives nothing to choose between) or too long
  (more than MAX_WORDS words: no one reads five of those against a timer);
- not English enough: fewer than MIN_ASCII_LETTER_SHARE of its letters are A–Z (other scripts and
  heavily accented text), or fewer than MIN_STOPWORD_SHARE of its words are common English function
  words ("the", "of", "with" …; a Spanish or German caption has almost none);
- a multi-panel legend: two or more panel labels such as "(A)", "(b)" — the image is one of the panels,
  so the caption describes more than the student sees.

The pool holds only ids (not vectors) per modality, built once per atlas with one scroll, and rebuilt
when the atlas's point count changes. Items are walked in a fixed pseudo-random order, so seed s
and s + 1 give different items (and seeds s and s + N the same one, for N usable items).
"""

from __future__ import annotations

import hashlib
import re
import threading
import weakref
from dataclasses import dataclass, field

from engine.contract import MODALITIES
from engine.store.base import AtlasStore

MIN_WORDS, MAX_WORDS = 5, 60
MIN_ASCII_LETTER_SHARE = 0.95
MIN_STOPWORD_SHARE = 0.08
STOPWORDS = frozenset((
    "a", "an", "the", "of", "in", "on", "at", "to", "from", "with", "without", "and", "or", "but", "is", "are",
    "was", "were", "be", "been", "this", "that", "these", "those", "there", "which", "who", "by", "for", "as",
    "into", "within", "between", "after", "before", "during", "than", "showing", "shows", "shown",
))
_WORDS = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_LETTER = re.compile(r"[^\W\d_]")
_PANEL = re.compile(r"\(\s*([A-Ha-h])\s*\)|(?:^|[\s;.])([A-H])[:)]\s")


def caption_problem(caption: str) -> str | None:
    """Why `caption` would make a bad quiz question (see the module doc), or None when it is usable."""
    words = _WORDS.findall(caption)
    if len(words) < MIN_WORDS:
        return f"too short ({len(words)} words, need {MIN_WORDS})"
    if len(words) > MAX_WORDS:
        return f"too long ({len(words)} words, at most {MAX_WORDS})"
    letters = _LETTER.findall(caption)
    ascii_share = sum(c.isascii() for c in letters) / len(letters)
    if ascii_share < MIN_ASCII_LETTER_SHARE:
        return f"not English enough ({ascii_share:.0%} of letters are A–Z)"
    stop_share = sum(w.lower() in STOPWORDS for w in words) / len(words)
    if stop_share < MIN_STOPWORD_SHARE:
        return f"not English enough ({stop_share:.0%} of words are common English words)"
    panels = {(a or b).lower() for a, b in _PANEL.findall(caption)}
    if len(panels) >= 2:
        return f"a multi-panel legend (panels {', '.join(sorted(panels))})"
    return None


@dataclass
class ItemPool:
    """Usable quiz item ids per modality, each list in the fixed walk order."""

    points: int
    by_modality: dict[str, list[str]] = field(default_factory=dict)
    by_concept: dict[str, list[str]] = field(default_factory=dict)  # CUI → usable ids, in walk order
    modality_of: dict[str, str] = field(default_factory=dict)  # every usable id → its modality
    _merged: dict[bool, list[str]] = field(default_factory=dict, repr=False)

    def ids(self, modality: str | None, *, known_modality: bool = False) -> list[str]:
        """The walk for one modality, or for all (only those of a known modality when asked)."""
        if modality is not None:
            return self.by_modality.get(modality, [])
        if known_modality not in self._merged:
            keys = [m for m in self.by_modality if not (known_modality and m == "other")]
            self._merged[known_modality] = walk_order([i for m in keys for i in self.by_modality[m]])
        return self._merged[known_modality]

    def usable(self, atlas_id: str, *, known_modality: bool = False, modality: str | None = None) -> bool:
        """Whether the id is a usable item (of a known modality / of `modality` when asked)."""
        found = self.modality_of.get(atlas_id)
        if found is None or (known_modality and found == "other"):
            return False
        return modality is None or found == modality

    def counts(self) -> dict[str, int]:
        """Usable items per modality, in the contract's order, leaving out empty ones."""
        return {m: len(self.by_modality[m]) for m in MODALITIES if self.by_modality.get(m)}


class ItemPools:
    """One ItemPool per open store, built on first use and when the atlas grows or shrinks."""

    def __init__(self) -> None:
        self._pools: weakref.WeakKeyDictionary[AtlasStore, ItemPool] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, store: AtlasStore) -> ItemPool:
        """The pool of `store` (one scroll over the atlas without images the first time)."""
        points = store.count()
        with self._lock:
            pool = self._pools.get(store)
            if pool is None or pool.points != points:
                pool = self._pools[store] = build_pool(store, points)
            return pool


def build_pool(store: AtlasStore, points: int) -> ItemPool:
    """Scroll the atlas once and keep the ids of usable captions per modality."""
    found: dict[str, list[str]] = {}
    concepts: dict[str, list[str]] = {}
    modality_of: dict[str, str] = {}
    for batch in store.scroll(with_images=False):
        for record in batch:
            payload = record.payload
            if caption_problem(payload.caption) is None:
                modality = payload.modality or "other"
                found.setdefault(modality, []).append(payload.atlas_id)
                modality_of[payload.atlas_id] = modality
                for cui in dict.fromkeys(payload.cuis):
                    concepts.setdefault(cui, []).append(payload.atlas_id)
    return ItemPool(points, {m: walk_order(ids) for m, ids in found.items()},
                    {c: walk_order(ids) for c, ids in concepts.items()}, modality_of)


def walk_order(ids: list[str]) -> list[str]:
    """A fixed pseudo-random order (by a hash of the id), the same on every backend and every run."""
    return sorted(ids, key=lambda i: hashlib.blake2b(i.encode(), digest_size=8).digest())
