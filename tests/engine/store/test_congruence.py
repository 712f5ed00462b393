"""Congruence: the same calls against the embedded store and the qdrant-client store give the
same answers (qdrant-client's own style of testing its local and remote implementations)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine.store.base import IMAGE_KEY, AtlasRecord, SearchParams

from .conftest import DIM, MODALITIES, fake_jpeg, make_records


def _queries(records: list[AtlasRecord], n: int = 20, seed: int = 1) -> list[np.ndarray]:
    """Queries near stored points (each close to one point, far from the rest) plus random ones."""
    rng = np.random.default_rng(seed)
    near = [
        records[i].vector + 0.1 * rng.standard_normal(DIM) for i in rng.choice(len(records), n, replace=False)
    ]
    return near + list(rng.standard_normal((n, DIM)))


def _ids(hits) -> list[str]:
    return [h.atlas_id for h in hits]


def test_search_gives_the_same_ids_order_and_scores(both, records):
    edge, client = both
    for q in _queries(records):
        e, c = edge.search(q, 8), client.search(q, 8)
        assert _ids(e) == _ids(c)
        np.testing.assert_allclose([h.score for h in e], [h.score for h in c], atol=1e-4)


def test_search_scores_are_the_cosine_computed_by_numpy(both, records):
    matrix = np.stack([r.vector for r in records])
    q = _queries(records)[0]
    expected = matrix @ (q / np.linalg.norm(q))
    best = np.argsort(-expected)[:5]
    for store in both:
        hits = store.search(q, 5)
        assert _ids(hits) == [records[i].payload.atlas_id for i in best]
        np.testing.assert_allclose([h.score for h in hits], expected[best], atol=1e-4)


def test_the_best_hit_of_a_stored_vector_is_itself_with_score_one(both, records):
    for store in both:
        hits = store.search(records[42].vector, 3)
        assert hits[0].atlas_id == "ROCO_00042"
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert hits[0].payload.caption == records[42].payload.caption


@pytest.mark.parametrize("modality", MODALITIES)
def test_modality_filter_is_exact_and_congruent(both, records, modality):
    edge, client = both
    for q in _queries(records, n=5):
        e, c = edge.search(q, 10, modality=modality), client.search(q, 10, modality=modality)
        assert _ids(e) == _ids(c)
        assert len(e) == 10
        assert {h.payload.modality for h in e} == {modality}


def test_filter_on_an_unknown_modality_finds_nothing(both, records):
    for store in both:
        assert store.search(records[0].vector, 5, modality="dermatology") == []
        assert store.count(modality="dermatology") == 0


def test_search_never_returns_the_image_payload_but_image_does(both, records):
    for store in both:
        hits = store.search(records[4].vector, 10)
        assert all(h.payload.image_jpeg_b64 is None for h in hits)
        assert store.image("ROCO_00004") == fake_jpeg(4)
        assert store.image("ROCO_00003") is None  # a point stored without an image
        assert store.image("ROCO_99999") is None  # no such point


def test_search_with_vectors_returns_the_stored_unit_vectors(both, records):
    for store in both:
        hits = store.search(records[7].vector, 4, with_vectors=True)
        by_id = {r.payload.atlas_id: r.vector for r in records}
        for h in hits:
            np.testing.assert_allclose(h.vector, by_id[h.atlas_id], atol=1e-5)
        assert store.search(records[7].vector, 4)[0].vector is None


def test_exact_search_matches_default_search_on_small_atlas(both, records):
    q = _queries(records)[3]
    for store in both:
        assert _ids(store.search(q, 10, params=SearchParams(exact=True))) == _ids(store.search(q, 10))


def test_retrieve_keeps_the_order_asked_and_leaves_out_unknown_ids(both):
    asked = ["ROCO_00010", "ROCO_77777", "ROCO_00002", "ROCO_00010"]
    edge, client = both
    e, c = edge.retrieve(asked, with_vectors=True), client.retrieve(asked, with_vectors=True)
    assert _ids(e) == _ids(c) == ["ROCO_00010", "ROCO_00002"]
    assert all(h.score == 1.0 and h.payload.image_jpeg_b64 is None for h in e + c)
    np.testing.assert_allclose(e[0].vector, c[0].vector, atol=1e-6)
    assert e[1].payload == c[1].payload


def test_count_and_existing_ids_agree(both):
    edge, client = both
    assert edge.count() == client.count() == 300
    for m in MODALITIES:
        assert edge.count(modality=m) == client.count(modality=m) == 75
    asked = [f"ROCO_{i:05d}" for i in range(290, 310)]
    expected = {f"ROCO_{i:05d}" for i in range(290, 300)}
    assert edge.existing_ids(asked) == client.existing_ids(asked) == expected
    assert edge.existing_ids([]) == client.existing_ids([]) == set()


def test_existing_sources_name_the_collection_where_the_point_says_it(both, records):
    for store in both:
        store.upsert([AtlasRecord(records[0].vector, replace(records[0].payload, source="PMC-OA"))])
    asked = ["ROCO_00000", "ROCO_00001", "ROCO_99999"]
    expected = {"ROCO_00000": "PMC-OA", "ROCO_00001": None}  # ROCO_00001 was stored without one
    assert both[0].existing_sources(asked) == both[1].existing_sources(asked) == expected
    assert both[0].retrieve(["ROCO_00000"])[0].payload.source == "PMC-OA"


def test_scroll_round_trips_every_point_with_payload_and_image(both, records):
    by_id = {r.payload.atlas_id: r for r in records}
    for store in both:
        batches = list(store.scroll(batch_size=64))
        assert [len(b) for b in batches][:4] == [64, 64, 64, 64]
        seen = [r for b in batches for r in b]
        assert sorted(r.payload.atlas_id for r in seen) == sorted(by_id)
        for r in seen:
            original = by_id[r.payload.atlas_id]
            assert r.payload == original.payload  # images included
            np.testing.assert_allclose(r.vector, original.vector, atol=1e-6)


def test_scroll_without_images_leaves_them_out(both):
    for store in both:
        assert all(r.payload.image_jpeg_b64 is None for b in store.scroll(100, with_images=False) for r in b)


def test_scroll_order_is_the_same_on_both_backends(both):
    edge, client = both
    e = [r.payload.atlas_id for b in edge.scroll(50) for r in b]
    c = [r.payload.atlas_id for b in client.scroll(50) for r in b]
    assert e == c


def test_upserting_twice_is_idempotent_and_replaces_payload(store, records):
    store.upsert(records[:50])
    store.upsert(records[:50])
    assert store.count() == 50
    changed = make_records(1, seed=9)[0]
    changed.payload.atlas_id = "ROCO_00001"
    changed.payload.caption = "a replaced caption"
    store.upsert([changed])
    assert store.count() == 50
    hit = store.search(changed.vector, 1)[0]
    assert (hit.atlas_id, hit.payload.caption) == ("ROCO_00001", "a replaced caption")
    assert hit.score == pytest.approx(1.0, abs=1e-4)


def test_vectors_are_normalised_on_the_way_in(store, records):
    rec = records[0]
    store.upsert([AtlasRecord(vector=rec.vector * 7.5, payload=rec.payload)])
    hit = store.search(rec.vector * 0.01, 1, with_vectors=True)[0]
    assert hit.score == pytest.approx(1.0, abs=1e-4)
    assert np.linalg.norm(hit.vector) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("vector", "k", "message"),
    [
        (np.ones(DIM + 1), 3, "expected shape"),
        (np.zeros(DIM), 3, "all zeros"),
        (np.full(DIM, np.nan), 3, "NaN"),
        (np.ones(DIM), 0, "k: must be a positive integer"),
    ],
)
def test_bad_queries_are_refused_with_the_same_clear_message(both, vector, k, message):
    for store in both:
        with pytest.raises(ValueError, match=message):
            store.search(vector, k)


def test_records_of_the_wrong_size_are_refused_naming_the_record(store):
    bad = make_records(3, dim=DIM + 4)
    with pytest.raises(ValueError, match=r"records\[0\] \(ROCO_00000\).*36 dimensions.*32-d"):
        store.upsert(bad)
    assert store.count() == 0


def test_an_empty_store_answers_empty(store):
    assert store.search(np.ones(DIM), 5) == []
    assert store.count() == 0
    assert list(store.scroll()) == []
    assert store.retrieve(["ROCO_00000"]) == []
    store.upsert([])
    assert store.count() == 0


def test_image_payload_key_is_the_documented_one(store, records):
    store.upsert(records[1:2])
    assert records[1].payload.to_dict()[IMAGE_KEY]
    assert store.image("ROCO_00001") == fake_jpeg(1)
