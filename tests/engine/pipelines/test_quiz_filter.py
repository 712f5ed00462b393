"""Which captions make quiz questions, how choices are shortened, and near-duplicate distractors."""

from __future__ import annotations

import numpy as np
import pytest

from engine.pipelines.quiz import QuizPipeline, shorten
from engine.pipelines.quiz_items import MAX_WORDS, ItemPools, caption_problem
from engine.store.base import AtlasPayload, AtlasRecord, StoredHit

from .fakes import BagOfWordsClip, MemoryStore


@pytest.mark.parametrize("caption", [
    "Axial CT scan showing a bright round lesion in the upper left of the image.",
    "Chest radiograph with a right-sided pleural effusion and blunting of the costophrenic angle",
    "MRI of the knee: tear of the medial meniscus (arrow).",
])
def test_ordinary_english_captions_are_usable(caption):
    assert caption_problem(caption) is None


@pytest.mark.parametrize(("caption", "reason"), [
    ("Axial CT.", "too short (2 words, need 5)"),
    ("CT of the", "too short (3 words, need 5)"),
    (" ".join(["the lesion"] * 31), f"too long (62 words, at most {MAX_WORDS})"),
    ("Tomografía computarizada de tórax que muestra una masa en el lóbulo superior derecho",
     "not English enough (0% of words are common English words)"),
    ("Röntgenaufnahme des Thorax mit einer großen Raumforderung im rechten Oberlappen",
     "not English enough (0% of words are common English words)"),
    ("胸部 CT 显示 右上 肺叶 有 一个 大 肿块 in the lung", "not English enough (44% of letters are A–Z)"),
    ("(A) Axial CT showing the mass. (B) Coronal view of the same lesion.", "a multi-panel legend (panels a, b)"),
    ("A: axial CT of the mass; B: coronal view of the lesion", "a multi-panel legend (panels a, b)"),
])
def test_bad_question_captions_are_skipped_with_the_reason(caption, reason):
    assert (caption_problem(caption) or "").startswith(reason)


def test_one_panel_letter_is_not_a_multi_panel_legend():
    assert caption_problem("Coronal CT of the abdomen showing a mass in the liver (A) with necrosis.") is None


@pytest.mark.parametrize("limit", [20, 30, 45, 80])
def test_shortening_never_cuts_a_word_in_two(limit):
    text = "Chest x-ray radiograph showing a bright ring-shaped lesion in the lower right of the image."
    short = shorten(text, limit)
    assert len(short) <= limit and short.endswith("…")
    kept = short[:-1]
    assert text.startswith(kept) and text[len(kept)] in " ,."  # the cut falls between words
    assert shorten(text, 200) == text


class VectorStore(MemoryStore):
    """The pipelines' MemoryStore, also returning vectors from retrieve (as both real backends do)."""

    def retrieve(self, atlas_ids, *, with_vectors=False):
        return [StoredHit(i, 1.0, self.records[i].payload, self.records[i].vector if with_vectors else None)
                for i in atlas_ids if i in self.records]


def test_near_duplicate_captions_are_never_distractors():
    clip = BagOfWordsClip()
    captions = {
        "R1": "Axial CT showing a bright round lesion in the liver.",
        "R2": "Axial CT showing a bright round lesion in the liver",  # the same caption, no full stop
        "R3": "In the liver, axial CT showing a bright round lesion.",  # the same words: text cosine 1.0
        "R4": "Axial CT showing a dark square mass in the kidney.",
        "R5": "Axial CT showing a dark square mass in the kidney.",  # a duplicate of another distractor
        "R6": "Axial CT showing a ring-shaped nodule in the spleen.",
        "R7": "Axial CT showing a small cyst within the pancreas tail.",
    }
    store = VectorStore()
    base = np.zeros(32, np.float32)
    base[0] = 1
    for n, (atlas_id, caption) in enumerate(captions.items()):
        # image vectors: every image near R1's, in the order listed, none a copy of it
        vector = base + 0.05 * (n + 1) * np.eye(32, dtype=np.float32)[n + 1]
        store.upsert([AtlasRecord(vector, AtlasPayload(atlas_id=atlas_id, caption=caption, modality="ct"))])
    quiz = QuizPipeline(clip, store, dedup_threshold=0.985, pools=ItemPools())
    item = store.retrieve(["R1"], with_vectors=True)[0]
    picked = quiz.caption_distractors(item, 3, None)
    assert [p.atlas_id for p in picked] == ["R4", "R6", "R7"]
