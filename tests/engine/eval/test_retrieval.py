"""The 2,000-pair protocol and whole-split retrieval on hand-made embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from engine.eval.retrieval import PUBLISHED, protocol, protocol_subsets, whole_split


def test_protocol_subsets_are_seeded_distinct_and_sized() -> None:
    subsets = protocol_subsets(100, 30, 4, seed=3)
    assert len(subsets) == 4
    assert all(len(s) == 30 and len(set(s.tolist())) == 30 for s in subsets)
    assert not np.array_equal(subsets[0], subsets[1])
    assert all(np.array_equal(a, b) for a, b in zip(subsets, protocol_subsets(100, 30, 4, seed=3), strict=True))
    assert [s.tolist() for s in protocol_subsets(5, 2000, 4, seed=0)] == [[0, 1, 2, 3, 4]]


def test_protocol_of_a_small_split_is_the_whole_split_with_a_note() -> None:
    emb = np.eye(6)
    res = protocol(emb, emb, size=2000, draws=5)
    assert (res.size, res.draws) == (6, 1)
    assert "only 6 pairs" in res.note
    assert res.mean["text_to_image"]["R@1"] == 1.0 and res.std["image_to_text"]["R@1"] == 0.0


def test_smaller_pools_make_retrieval_easier() -> None:
    # On a circle, text i sits 0.6 of the way from image i to image i+1: its neighbour i+1 always
    # beats its own image in the whole split, but is often absent from a random subset.
    n = 40
    angles = 2 * np.pi * np.arange(n) / n
    image = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    text = np.stack([np.cos(angles + 0.6 * 2 * np.pi / n), np.sin(angles + 0.6 * 2 * np.pi / n)], axis=1)
    whole = whole_split(text, image)
    assert whole.text_to_image.recall[1] == 0.0  # the next image is always nearer
    assert whole.text_to_image.mean_rank == 2.0
    small = protocol(text, image, size=10, draws=20, seed=0)
    # in a random subset of 10 the neighbour i+1 is present with probability 9/39
    assert small.mean["text_to_image"]["R@1"] == pytest.approx(1 - 9 / 39, abs=0.08)


def test_published_figures_are_the_model_card_values() -> None:
    figures = {(p.direction, p.k): p.recall for p in PUBLISHED}
    assert figures == {("image_to_text", 10): 0.675, ("text_to_image", 10): 0.679}
