"""Matched vs unmatched pairs on hand-made embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from engine.eval.consistency import consistency, derangement, matched_and_unmatched


def test_derangement_moves_every_item_and_is_seeded() -> None:
    for n in (2, 3, 10, 101):
        perm = derangement(n, np.random.default_rng(7))
        assert sorted(perm.tolist()) == list(range(n))
        assert not np.any(perm == np.arange(n))
    a = derangement(50, np.random.default_rng(1))
    assert np.array_equal(a, derangement(50, np.random.default_rng(1)))
    with pytest.raises(ValueError, match="at least 2"):
        derangement(1, np.random.default_rng(0))


def test_identical_orthogonal_pairs_separate_perfectly() -> None:
    emb = np.eye(8)
    matched, unmatched = matched_and_unmatched(emb, emb, seed=0)
    assert matched.tolist() == [1.0] * 8
    assert unmatched.tolist() == [0.0] * 8
    res = consistency("same", "identity", emb, emb, seed=0)
    assert res.auc == 1.0
    assert res.threshold.heldout_accuracy == 1.0
    assert 0.0 < res.threshold.threshold <= 1.0
    assert res.matched_summary.mean == 1.0 and res.unmatched_summary.std == 0.0


def test_unrelated_pairs_are_not_separable() -> None:
    rng = np.random.default_rng(0)
    left, right = rng.normal(size=(3000, 16)), rng.normal(size=(3000, 16))
    left /= np.linalg.norm(left, axis=1, keepdims=True)
    right /= np.linalg.norm(right, axis=1, keepdims=True)
    res = consistency("random", "unrelated", left, right, seed=0)
    assert res.auc == pytest.approx(0.5, abs=0.03)
    if res.auc <= 0.5:
        assert not res.threshold.separable and res.threshold.threshold is None
    else:
        assert res.threshold.heldout_accuracy == pytest.approx(0.5, abs=0.04)
        assert -1.0 <= res.threshold.threshold <= 1.0


def test_too_few_pairs_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="tiny: need at least 4 pairs"):
        consistency("tiny", "", np.eye(3), np.eye(3))
