"""Metric code on hand-made scores whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from engine.eval import metrics as m


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_identity_embeddings_retrieve_every_match_first() -> None:
    emb = np.eye(6, dtype=np.float32)
    res = m.retrieval_metrics(emb @ emb.T)
    for stats in (res.text_to_image, res.image_to_text):
        assert stats.recall == {1: 1.0, 5: 1.0, 10: 1.0}
        assert stats.mean_rank == 1.0 and stats.median_rank == 1.0


def test_permuted_images_give_the_exact_rank_of_each_match() -> None:
    # Text i scores image j by closeness of j to a wrong target; we build explicit scores instead:
    # row i lists images in a known order, so the matched image's rank is known.
    order = [[0, 1, 2, 3], [0, 2, 1, 3], [3, 1, 0, 2], [2, 0, 1, 3]]  # preference per text, best first
    sim = np.zeros((4, 4))
    for i, prefs in enumerate(order):
        for position, image in enumerate(prefs):
            sim[i, image] = 1.0 - position / 10
    ranks = m.match_ranks(sim)
    assert ranks.tolist() == [1.0, 3.0, 4.0, 4.0]
    stats = m.retrieval_metrics(sim, ks=(1, 3)).text_to_image
    assert stats.recall == {1: 0.25, 3: 0.5}
    assert stats.mean_rank == pytest.approx(3.0)
    assert stats.median_rank == pytest.approx(3.5)


def test_image_to_text_reads_the_columns() -> None:
    sim = np.array([[0.9, 0.95], [0.1, 0.2]])  # image 0 prefers text 0; image 1 prefers text 0
    res = m.retrieval_metrics(sim)
    assert m.match_ranks(sim.T).tolist() == [1.0, 2.0]
    assert res.image_to_text.recall[1] == 0.5
    assert res.text_to_image.recall[1] == 0.5  # text 0 prefers image 1


@pytest.mark.parametrize(("ties", "expected"), [("pessimistic", 3.0), ("optimistic", 1.0), ("average", 2.0)])
def test_constant_scores_follow_the_tie_rule(ties: str, expected: float) -> None:
    sim = np.full((3, 3), 0.5)
    assert m.match_ranks(sim, ties=ties).tolist() == [expected] * 3


def test_unknown_tie_rule_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="ties must be one of"):
        m.match_ranks(np.eye(2), ties="random")


def test_non_square_or_nan_matrices_are_refused() -> None:
    with pytest.raises(ValueError, match="square"):
        m.match_ranks(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        m.match_ranks(np.array([[1.0, np.nan], [0.0, 1.0]]))


def test_chunked_ranks_equal_the_full_matrix_ranks() -> None:
    rng = np.random.default_rng(1)
    text = _unit(rng.normal(size=(37, 8)))
    image = _unit(text + 0.8 * rng.normal(size=(37, 8)))
    full = m.retrieval_metrics(text @ image.T)
    chunked = m.retrieval_metrics_from_embeddings(text, image)
    np.testing.assert_array_equal(m.ranks_from_embeddings(text, image, chunk=5), m.match_ranks(text @ image.T))
    assert chunked.text_to_image.recall == pytest.approx(full.text_to_image.recall)
    assert chunked.image_to_text.mean_rank == pytest.approx(full.image_to_text.mean_rank)


def test_recall_at_k_counts_ranks_up_to_k() -> None:
    assert m.recall_at_k(np.array([1, 2, 5, 6, 11]), ks=(1, 5, 10)) == {1: 0.2, 5: 0.6, 10: 0.8}
    with pytest.raises(ValueError, match="k must be >= 1"):
        m.recall_at_k(np.array([1]), ks=(0,))


def test_auc_of_separated_reversed_tied_and_random_scores() -> None:
    assert m.roc_auc([0.9, 0.8, 0.7], [0.1, 0.2]) == 1.0
    assert m.roc_auc([0.1, 0.2], [0.9, 0.8, 0.7]) == 0.0
    assert m.roc_auc([0.5, 0.5], [0.5, 0.5, 0.5]) == 0.5
    assert m.roc_auc([0.3, 0.6], [0.6, 0.1]) == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    rng = np.random.default_rng(0)
    assert m.roc_auc(rng.normal(size=4000), rng.normal(size=4000)) == pytest.approx(0.5, abs=0.02)


def test_roc_curve_runs_from_origin_to_one() -> None:
    fpr, tpr = m.roc_curve([0.9, 0.4], [0.5, 0.1])
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]


def test_best_threshold_separates_separable_scores() -> None:
    threshold, accuracy = m.best_threshold([0.8, 0.9, 0.7], [0.2, 0.3])
    assert accuracy == 1.0
    assert 0.3 < threshold < 0.7


def test_best_threshold_on_overlapping_scores_finds_the_known_optimum() -> None:
    # sorted: n.1 p.2 n.3 n.35 p.4 p.5 p.6 -> only a cut between .35 and .4 gets 6/7 right
    threshold, accuracy = m.best_threshold([0.2, 0.4, 0.5, 0.6], [0.1, 0.3, 0.35])
    assert accuracy == pytest.approx(6 / 7)
    assert threshold == pytest.approx(0.375)


def test_a_threshold_is_always_an_observed_score_or_a_midpoint() -> None:
    # Not separable (matched score lower): the old candidates put the best cut below all scores (-1.385
    # in a real run, outside the cosine range). Every candidate now lies within the scores.
    matched, unmatched = [-0.30, -0.25, -0.20], [0.10, 0.15, 0.20]
    threshold, _ = m.best_threshold(matched, unmatched)
    scores = sorted(matched + unmatched)
    midpoints = [(a + b) / 2 for a, b in zip(scores, scores[1:], strict=False)]
    assert any(threshold == pytest.approx(v) for v in scores + midpoints)
    assert -1.0 <= threshold <= 1.0


def test_an_auc_at_or_below_one_half_is_reported_as_not_separable() -> None:
    rng = np.random.default_rng(5)
    inverted = m.heldout_threshold(rng.normal(-0.2, 0.05, 50), rng.normal(0.2, 0.05, 50), seed=0)
    assert not inverted.separable
    assert inverted.threshold is None and inverted.heldout_accuracy is None and inverted.fit_accuracy is None
    same = m.heldout_threshold([0.3, 0.3, 0.3, 0.3], [0.3, 0.3, 0.3, 0.3], seed=0)  # AUC exactly 0.5
    assert not same.separable and same.threshold is None
    separable = m.heldout_threshold([0.8, 0.9, 0.85, 0.7], [0.1, 0.2, 0.15, 0.3], seed=0)
    assert separable.separable and 0.3 <= separable.threshold <= 0.7


def test_heldout_threshold_is_fitted_on_one_half_and_scored_on_the_other() -> None:
    rng = np.random.default_rng(3)
    matched, unmatched = rng.normal(1.0, 0.3, 400), rng.normal(0.0, 0.3, 400)
    res = m.heldout_threshold(matched, unmatched, seed=0)
    assert res.n_fit == 400 and res.n_heldout == 400
    assert 0.3 < res.threshold < 0.7
    assert res.heldout_accuracy == pytest.approx(0.95, abs=0.03)  # Φ(0.5/0.3) ≈ 0.952
    assert m.heldout_threshold(matched, unmatched, seed=0) == res  # seeded
    with pytest.raises(ValueError, match="at least 2 matched"):
        m.heldout_threshold([0.5], [0.1, 0.2])


def test_summarize_gives_mean_spread_and_quartiles() -> None:
    s = m.summarize([1, 2, 3, 4, 5])
    assert (s.n, s.mean, s.min, s.q1, s.median, s.q3, s.max) == (5, 3.0, 1.0, 2.0, 3.0, 4.0, 5.0)
    assert s.std == pytest.approx(np.sqrt(2.0))
    with pytest.raises(ValueError, match="values is empty"):
        m.summarize([])
