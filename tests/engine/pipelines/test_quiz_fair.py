"""Fair questions over 200 seeds on the demo atlas (tiny CLIP, real embedded atlas).

The demo atlas has sibling panels (the images of one look are the panels of two articles, one PMC id
each) and shared finding concepts (every caption's noun is a CUI), so the nearest images in CLIP space
are often siblings or share the finding: a quiz that picks plain hard negatives breaks these rules.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from engine.contract import QUIZ_POINTS_BY_HINTS, quiz_points
from engine.pipelines.quiz import QuizPipeline
from engine.pipelines.quiz_fair import NON_FINDING_CUIS, finding_cuis
from engine.pipelines.quiz_hints import MODALITY_NAMES
from engine.pipelines.quiz_items import ItemPools
from engine.store.base import AtlasPayload

pytestmark = pytest.mark.slow  # the tiny models and the demo atlas
SEEDS = range(200)
THRESHOLD = 0.95


@pytest.fixture(scope="module")
def quiz(clip_encoder, demo_store):
    return QuizPipeline(clip_encoder, demo_store, dedup_threshold=0.985, distractor_threshold=THRESHOLD,
                        pools=ItemPools())


@pytest.fixture(scope="module")
def payloads(demo_store) -> dict[str, AtlasPayload]:
    return {r.payload.atlas_id: r.payload for batch in demo_store.scroll(with_images=False) for r in batch}


def words(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def test_the_demo_atlas_gives_plain_hard_negatives_siblings_and_shared_findings(demo_store, payloads):
    """Without the rules the test below would fail: the nearest images are often unfair."""
    sibling = shared = 0
    for atlas_id, payload in list(payloads.items())[:60]:
        item = demo_store.retrieve([atlas_id], with_vectors=True)[0]
        near = [h.payload for h in demo_store.search(item.vector, 5) if h.atlas_id != atlas_id][:3]
        sibling += any(p.pmc_id == payload.pmc_id for p in near)
        shared += any({c["cui"] for c in p.concepts} & {c["cui"] for c in payload.concepts} - NON_FINDING_CUIS.keys()
                      for p in near)
    assert sibling >= 20 and shared >= 30, (sibling, shared)


def test_over_200_seeds_no_distractor_is_unfair(quiz, clip_encoder, payloads):
    for seed in SEEDS:
        result = quiz(seed=seed, choices=5 if seed % 2 else 4)
        item = payloads[result.item.atlas_id]
        wrong = [payloads[c.atlas_id] for i, c in enumerate(result.choices) if i != result.answer]
        articles = [item.pmc_id, *(p.pmc_id for p in wrong)]
        assert len(set(articles)) == len(articles), (seed, articles)  # never the item's article, nor each other's
        texts = [words(c.full_text) for c in result.choices]
        assert len(set(texts)) == len(texts), seed
        item_cuis = {c["cui"] for c in item.concepts} - NON_FINDING_CUIS.keys()
        assert item_cuis, "every demo caption names a finding"
        for p in wrong:
            assert not item_cuis & {c["cui"] for c in p.concepts}, (seed, p.atlas_id)
        vectors = np.asarray(clip_encoder.encode_text([c.full_text for c in result.choices]))
        to_right = vectors @ vectors[result.answer]
        assert max(np.delete(to_right, result.answer)) <= THRESHOLD + 1e-6, seed


def test_findings_follow_the_disorders_group_where_cuis_carry_types_and_the_roco_list_otherwise():
    roco = AtlasPayload("R1", "x", concepts=[{"cui": "C0040405"}, {"cui": "C0032326"}, {"cui": "C0817096"}])
    assert finding_cuis(roco) == {"C0032326", "C0817096"}  # CT is a modality concept, the rest count
    typed = AtlasPayload("R2", "x", concepts=[{"cui": "C0032326", "semtype": "T047"},
                                              {"cui": "C0817096", "semtype": "T029"},
                                              {"cui": "C0040405", "semtype": "T060"}])
    assert finding_cuis(typed) == {"C0032326"}  # only the Disorders group (T047) names a finding
    assert finding_cuis(AtlasPayload("R3", "x")) == set()  # a point without concepts


@pytest.mark.parametrize("kind", ["caption", "modality"])
def test_no_hint_names_or_begins_the_answer(quiz, kind):
    modality_words = [n.lower() for n in MODALITY_NAMES.values()] + ["x-ray", "xray", "computed tomography",
                                                                     "magnetic resonance", "pet", "angiogra"]
    for seed in range(120):
        result = quiz(seed=seed, kind=kind, choices=3 + seed % 3)
        right = result.choices[result.answer].full_text
        first = " ".join(right.lower().split()[:3])
        assert [h.kind for h in result.ladder] == ["shows"] + ["strike"] * min(2, len(result.choices) - 2)
        for hint in result.hints:
            said = hint.lower()
            assert right.lower() not in said and first not in said and words(first) not in words(said), (seed, hint)
            if kind == "modality":
                assert not any(re.search(rf"\b{re.escape(w)}", said) for w in modality_words), (seed, hint)
        struck = [h.strike for h in result.ladder if h.kind == "strike"]
        assert result.answer not in struck and len(set(struck)) == len(struck)
        for h in result.ladder[1:]:
            assert h.text == f"Not {'ABCDE'[h.strike]}."


def test_the_first_rung_says_what_the_image_shows(quiz):
    result = quiz(seed=5, kind="caption")
    assert result.hints[0].startswith("The image shows — modality: ")
    assert MODALITY_NAMES[result.item.payload.modality] in result.hints[0]


@pytest.mark.parametrize("choices", [3, 4, 5])
def test_points_reward_every_hint_a_little_and_never_beat_an_unhinted_answer(quiz, choices):
    result = quiz(seed=choices, choices=choices)
    points = result.points
    assert len(points) == len(result.hints) + 1 and points[0] == QUIZ_POINTS_BY_HINTS[0]
    assert all(a > b for a, b in zip(points, points[1:], strict=False))  # each hint costs
    assert 0 < points[-1] <= points[0] / 4  # right after every hint: still > 0, clearly less
    left = choices - sum(h.kind == "strike" for h in result.ladder)
    assert left >= 2 and points[-1] / left < points[0]  # guessing among what is left after every hint
    assert [quiz_points(True, n, len(result.hints)) for n in range(len(points))] == points
    assert quiz_points(False, 0) == 0 and quiz_points(True, 99) == QUIZ_POINTS_BY_HINTS[-1]
