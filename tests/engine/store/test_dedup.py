"""Folding near-duplicate hits (the same ROCO figure reused across papers)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.store.base import AtlasPayload, AtlasRecord, StoredHit
from engine.store.dedup import fold_near_duplicates


def hit(atlas_id: str, score: float, vector: list[float] | None) -> StoredHit:
    return StoredHit(
        atlas_id=atlas_id,
        score=score,
        payload=AtlasPayload(atlas_id=atlas_id, caption=atlas_id),
        vector=None if vector is None else np.asarray(vector, dtype=np.float32),
    )


def angle(deg: float) -> list[float]:
    """A unit vector in the plane at `deg` degrees from the x axis (cosine to x = cos(deg))."""
    r = np.deg2rad(deg)
    return [float(np.cos(r)), float(np.sin(r)), 0.0]


def ids(hits: list[StoredHit]) -> list[str]:
    return [h.atlas_id for h in hits]


def test_a_near_copy_of_a_better_hit_is_folded_away():
    hits = [hit("a", 0.9, angle(0)), hit("a-copy", 0.89, angle(5)), hit("b", 0.7, angle(60))]
    # cos(5 deg) = 0.9962
    assert ids(fold_near_duplicates(hits, 0.99)) == ["a", "b"]


def test_the_threshold_is_inclusive_and_below_it_both_stay():
    hits = [hit("a", 0.9, angle(0)), hit("b", 0.8, angle(10))]
    cos10 = float(np.dot(angle(0), angle(10)))
    assert ids(fold_near_duplicates(hits, cos10 - 1e-6)) == ["a"]
    assert ids(fold_near_duplicates(hits, cos10 + 1e-4)) == ["a", "b"]


def test_a_hit_is_compared_with_every_kept_hit_not_only_the_previous_one():
    hits = [hit("a", 0.9, angle(0)), hit("b", 0.8, angle(90)), hit("a-copy", 0.7, angle(2))]
    assert ids(fold_near_duplicates(hits, 0.99)) == ["a", "b"]


def test_a_folded_hit_does_not_fold_others_itself():
    # b is within 0.99 of a (folded); c is within 0.99 of b but not of a: c stays.
    hits = [hit("a", 0.9, angle(0)), hit("b", 0.8, angle(6)), hit("c", 0.7, angle(12))]
    assert np.dot(angle(0), angle(6)) >= 0.99 > np.dot(angle(0), angle(12))
    assert ids(fold_near_duplicates(hits, 0.99)) == ["a", "c"]


def test_repeated_atlas_ids_are_folded_whatever_the_threshold():
    hits = [hit("a", 0.9, angle(0)), hit("b", 0.8, angle(90)), hit("a", 0.9, angle(0))]
    assert ids(fold_near_duplicates(hits, 2.0)) == ["a", "b"]


def test_order_and_scores_of_kept_hits_are_unchanged():
    hits = [hit("x", 0.95, angle(0)), hit("y", 0.5, angle(45)), hit("z", 0.4, angle(90))]
    out = fold_near_duplicates(hits, 0.99)
    assert out == hits


def test_unnormalised_vectors_are_compared_by_cosine():
    hits = [hit("a", 0.9, [3.0, 0.0, 0.0]), hit("a-big", 0.8, [100.0, 1.0, 0.0])]
    assert ids(fold_near_duplicates(hits, 0.99)) == ["a"]


def test_an_empty_list_stays_empty():
    assert fold_near_duplicates([], 0.98) == []


def test_hits_without_vectors_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="with_vectors=True"):
        fold_near_duplicates([hit("a", 0.9, None)], 0.98)


@pytest.mark.parametrize("bad", [-0.1, float("nan")])
def test_a_bad_threshold_is_refused(bad):
    with pytest.raises(ValueError, match="threshold"):
        fold_near_duplicates([hit("a", 0.9, angle(0))], bad)


def test_folding_real_store_hits(both, records):
    """End to end on a store: a stored near-copy of a figure is folded from a real search."""
    edge, client = both
    copy = records[10].vector + 0.01 * np.random.default_rng(3).standard_normal(records[10].vector.shape)
    for store in (edge, client):
        store.upsert(
            [
                AtlasRecord(
                    vector=copy,
                    payload=AtlasPayload(atlas_id="ROCO_COPY", caption="same figure, other paper"),
                )
            ]
        )
        hits = store.search(records[10].vector, 5, with_vectors=True)
        assert set(ids(hits[:2])) == {"ROCO_00010", "ROCO_COPY"}
        folded = fold_near_duplicates(hits, 0.985)
        assert ids(folded)[0] == ids(hits)[0]
        assert "ROCO_COPY" not in ids(folded[1:]) and "ROCO_00010" not in ids(folded[1:])
        assert len(folded) == 4
