"""The embedded store on its own: files on disk, reopening, dimension checks, threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.store.base import AtlasPayload, AtlasRecord, SearchParams
from engine.store.edge import EdgeStore, stored_dim

from .concurrency import search_while_writing
from .conftest import DIM, fake_jpeg, make_records


def test_an_atlas_reopened_from_disk_answers_as_before(tmp_path, records):
    path = tmp_path / "atlas"
    with EdgeStore.create(path, DIM) as store:
        store.upsert(records)
        store.optimize()
        before = [h.atlas_id for h in store.search(records[5].vector, 10)]
    with EdgeStore.open(path) as reopened:
        assert reopened.dim == DIM
        assert reopened.count() == len(records)
        assert reopened.count(modality="ct") == 75
        assert [h.atlas_id for h in reopened.search(records[5].vector, 10)] == before
        assert reopened.image("ROCO_00005") == fake_jpeg(5)


def test_open_or_create_creates_then_reopens(tmp_path, records):
    path = tmp_path / "atlas"
    with EdgeStore.open_or_create(path, DIM) as store:
        store.upsert(records[:10])
    assert stored_dim(path) == DIM
    with EdgeStore.open_or_create(path, DIM) as store:
        assert store.count() == 10


def test_open_or_create_refuses_another_dimension_with_advice(tmp_path):
    path = tmp_path / "atlas"
    EdgeStore.create(path, 768).close()
    with pytest.raises(ValueError) as err:
        EdgeStore.open_or_create(path, 64)
    message = str(err.value)
    assert "768-d" in message and "64-d" in message and "MIRAGE_DATA_DIR" in message


def test_open_without_an_atlas_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere")):
        EdgeStore.open(tmp_path / "nowhere")


def test_create_over_an_existing_atlas_is_refused(tmp_path):
    EdgeStore.create(tmp_path / "atlas", DIM).close()
    with pytest.raises(FileExistsError, match="already exists"):
        EdgeStore.create(tmp_path / "atlas", DIM)


def test_a_second_open_of_the_same_atlas_gets_a_clear_error(tmp_path):
    with EdgeStore.create(tmp_path / "atlas", DIM), pytest.raises(RuntimeError, match="another engine"):
        EdgeStore.open(tmp_path / "atlas")


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"dim": 0}, "dim"), ({"dim": DIM, "quantization": "int4"}, "quantization")]
)
def test_bad_create_arguments_name_the_argument(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        EdgeStore.create(tmp_path / "atlas", **kwargs)


def test_a_closed_store_says_so(tmp_path):
    store = EdgeStore.create(tmp_path / "atlas", DIM)
    store.close()
    store.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        store.search(np.ones(DIM), 3)


def test_int8_quantized_atlas_finds_the_same_neighbours(tmp_path, records):
    with EdgeStore.create(tmp_path / "q", DIM, quantization="int8") as store:
        store.upsert(records)
        store.optimize()
        matrix = np.stack([r.vector for r in records])
        for i in (1, 50, 222):
            q = records[i].vector
            expected = [records[j].payload.atlas_id for j in np.argsort(-(matrix @ q))[:5]]
            hits = store.search(q, 5, params=SearchParams(hnsw_ef=64, rescore=True, oversampling=2.0))
            assert [h.atlas_id for h in hits] == expected


def test_a_binary2_atlas_walks_on_two_bits_and_answers_with_float32_scores(tmp_path):
    """2-bit codes are only for CLIP-sized vectors (768-d); with 16x oversampling and rescoring, the
    neighbours and their scores are the float32 ones."""
    rng = np.random.default_rng(7)
    signal = rng.standard_normal((600, 16)) @ rng.standard_normal((16, 768))  # low rank, like embeddings
    vectors = signal + 0.3 * rng.standard_normal((600, 768))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    records = [AtlasRecord(v, AtlasPayload(atlas_id=f"ROCO_{i:05d}", caption="c")) for i, v in enumerate(vectors)]
    with EdgeStore.create(tmp_path / "b", 768, quantization="binary2") as store:
        store.upsert(records)
        store.optimize()
        found = 0
        for i in range(0, 600, 60):
            expected = [f"ROCO_{j:05d}" for j in np.argsort(-(vectors @ vectors[i]))[:5]]
            hits = store.search(vectors[i], 5, params=SearchParams(hnsw_ef=64, rescore=True, oversampling=16.0))
            assert hits[0].atlas_id == expected[0]
            assert hits[0].score == pytest.approx(1.0, abs=1e-4)  # rescored with the float32 original
            found += len(set(expected) & {h.atlas_id for h in hits})
        assert found >= 45  # recall@5 >= 0.9 over the 10 queries


def test_an_unknown_quantization_is_refused_naming_the_choices(tmp_path):
    with pytest.raises(ValueError, match="quantization: must be one of none, int8, binary2, got 'pq'"):
        EdgeStore.create(tmp_path / "q", DIM, quantization="pq")  # type: ignore[arg-type]  # the bad value under test


def test_default_params_come_from_the_constructor(tmp_path):
    params = SearchParams(hnsw_ef=32, exact=True)
    with EdgeStore.create(tmp_path / "atlas", DIM, default_params=params) as store:
        assert store.default_params == params
    with EdgeStore.open(tmp_path / "atlas", default_params=params) as store:
        assert store.default_params == params


def test_searches_from_several_threads_while_writing_stay_correct(tmp_path):
    """The engine searches from a thread pool while an indexer may be writing."""
    records = make_records(1200)
    with EdgeStore.create(tmp_path / "atlas", DIM) as store:
        store.upsert(records[:600])
        errors = search_while_writing(store, records, stored=600, readers=4, stride=7, chunk=100)
        assert errors == []
        assert store.count() == 1200


def test_stored_dim_is_none_for_an_empty_directory(tmp_path: Path):
    assert stored_dim(tmp_path) is None
    (tmp_path / "edge_config.json").write_text('{"vectors": {}}')
    with pytest.raises(ValueError, match="not a MIRAGE atlas"):
        stored_dim(tmp_path)
