"""The quiz on the trained tiny CLIP and a real embedded atlas of the demo images.

The tiny CLIP is trained on the demo atlas, so its image space has structure (modality look, lesion
shape and place): hard negatives must be measurably nearer the item than random atlas images.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.contract import QUIZ_CHOICE_DISPLAY_CHARS
from engine.pipelines.quiz import MODALITY_NAMES, QuizPipeline, QuizUnavailable
from engine.pipelines.quiz_items import ItemPools
from engine.pipelines.results import InvalidInput

pytestmark = pytest.mark.slow  # the tiny models and the demo atlas
SEEDS = range(12)


@pytest.fixture(scope="module")
def quiz(clip_encoder, demo_store):
    return QuizPipeline(clip_encoder, demo_store, dedup_threshold=0.985, pools=ItemPools())


@pytest.fixture(scope="module")
def atlas_vectors(demo_store) -> dict[str, np.ndarray]:
    return {r.payload.atlas_id: r.vector for batch in demo_store.scroll(with_images=False) for r in batch}


def test_distractors_are_nearer_the_item_than_random_atlas_images(quiz, atlas_vectors):
    rng = np.random.default_rng(0)
    ids = sorted(atlas_vectors)
    near, chance = [], []
    for seed in SEEDS:
        result = quiz(seed=seed, choices=4)
        item = atlas_vectors[result.item.atlas_id]
        wrong = [c.atlas_id for i, c in enumerate(result.choices) if i != result.answer]
        near += [float(atlas_vectors[w] @ item) for w in wrong]
        others = [i for i in ids if i != result.item.atlas_id]
        chance += [float(atlas_vectors[o] @ item) for o in rng.choice(others, size=len(wrong), replace=False)]
    # measured: about 0.8 against about 0.0
    assert np.mean(near) > np.mean(chance) + 0.3


def test_choices_are_distinct_and_only_one_is_the_items_caption(quiz, clip_encoder):
    for seed in SEEDS:
        result = quiz(seed=seed, choices=5)
        texts = [c.full_text for c in result.choices]
        assert len(result.choices) == 5 and len(set(texts)) == 5 and all(t.strip() for t in texts)
        assert [c.atlas_id for c in result.choices].count(result.item.atlas_id) == 1
        assert result.choices[result.answer].atlas_id == result.item.atlas_id
        assert result.choices[result.answer].full_text == " ".join(result.item.payload.caption.split())
        vectors = clip_encoder.encode_text(texts)
        similarity = vectors @ vectors.T
        assert similarity[~np.eye(5, dtype=bool)].max() <= 0.985  # no near-duplicate text pair


def test_choice_texts_fit_the_display_and_keep_the_full_caption(quiz):
    for seed in SEEDS:
        for choice in quiz(seed=seed).choices:
            assert len(choice.text) <= QUIZ_CHOICE_DISPLAY_CHARS
            if choice.text != choice.full_text:
                kept = choice.text.removesuffix("…")
                assert choice.full_text.startswith(kept) and choice.full_text[len(kept)] in " ,."


def test_the_same_seed_gives_the_same_question_and_different_seeds_different_items(quiz):
    first, again = quiz(seed=41), quiz(seed=41)
    assert first.item.atlas_id == again.item.atlas_id
    assert [c.full_text for c in first.choices] == [c.full_text for c in again.choices]
    assert (first.answer, first.hints, first.seed) == (again.answer, again.hints, 41)
    assert len({quiz(seed=s).item.atlas_id for s in SEEDS}) == len(SEEDS)
    assert len({quiz(seed=s).answer for s in SEEDS}) > 1  # the right answer is not always in one place


def test_without_a_seed_one_is_drawn_and_returned_so_the_question_replays(quiz):
    drawn = quiz()
    replay = quiz(seed=drawn.seed)
    assert replay.item.atlas_id == drawn.item.atlas_id and replay.answer == drawn.answer


def test_a_modality_filter_quizzes_only_that_modality(quiz):
    for seed in range(5):
        result = quiz(seed=seed, modality="mri")
        assert result.item.payload.modality == "mri"


def test_the_hint_ladder_says_what_the_image_shows_then_strikes_two_wrong_choices(quiz):
    result = quiz(seed=3)
    shows, first, second = result.hints
    assert shows.startswith(f"The image shows — modality: {MODALITY_NAMES[result.item.payload.modality]}")
    struck = [h.strike for h in result.ladder[1:]]
    assert first == f"Not {'ABCD'[struck[0]]}." and second == f"Not {'ABCD'[struck[1]]}."
    assert result.answer not in struck and struck[0] != struck[1]


def test_a_modality_question_offers_the_items_modality_against_others(quiz):
    for seed in range(6):
        result = quiz(seed=seed, kind="modality", choices=5)
        names = [c.full_text for c in result.choices]
        assert len(set(names)) == 5 and set(names) <= set(MODALITY_NAMES.values())
        assert names[result.answer] == MODALITY_NAMES[result.item.payload.modality]
        # no rung names the modality
        assert all(MODALITY_NAMES[result.item.payload.modality] not in hint for hint in result.hints)


def test_a_modality_without_usable_items_says_what_is_available(quiz):
    with pytest.raises(QuizUnavailable) as caught:
        quiz(modality="other")
    assert str(caught.value) == (
        "modality: 'other' has 0 usable quiz items, a quiz needs at least 4; usable items per modality: "
        "x-ray 40, ct 40, mri 40, ultrasound 40, angiography 40, nuclear 40"
    )


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"choices": 2}, "choices: between 3 and 5 (got 2)"),
    ({"choices": 6}, "choices: between 3 and 5 (got 6)"),
    ({"kind": "region"}, "kind: one of caption, modality (got 'region')"),
    ({"modality": "pet"}, "modality: one of x-ray, ct, mri, ultrasound, angiography, nuclear, other (got 'pet')"),
    ({"kind": "modality", "modality": "other"}, "kind, modality: a modality question takes no modality filter "
                                                "(its answer would always be that modality); leave out modality "
                                                "or ask kind 'caption'"),
    ({"kind": "modality", "modality": "ct"}, "kind, modality: a modality question takes no modality filter "
                                             "(its answer would always be that modality); leave out modality "
                                             "or ask kind 'caption'"),
    ({"topic": "mass", "concept": "C0577559"}, "topic, concept: give at most one of topic, concept, item_ids"),
    ({"seed": 2**32}, "seed: between 0 and 4294967295 (got 4294967296)"),
])
def test_bad_input_names_the_field_and_the_limit(quiz, kwargs, message):
    with pytest.raises(InvalidInput) as caught:
        quiz(**kwargs)
    assert str(caught.value) == message
