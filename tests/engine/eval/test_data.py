"""Assembling the evaluated split from a real embedded atlas and from a ROCO tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.eval.data import EvalDataError, EvalSplit, sample, split_from_roco, split_from_store
from engine.store.base import AtlasPayload, AtlasRecord
from engine.store.edge import EdgeStore

from .fakes import TableClip


@pytest.fixture
def store(tmp_path: Path):
    store = EdgeStore.open_or_create(tmp_path / "atlas", 4)
    vectors = np.eye(4, dtype=np.float32)
    records = [AtlasRecord(vectors[i], AtlasPayload(atlas_id=f"ROCO_{9 - i:05d}", caption=f"caption {i}",
                                                    split="test" if i < 3 else "train")) for i in range(4)]
    store.upsert(records)
    yield store
    store.close()


def test_split_from_store_keeps_that_split_with_its_vectors_in_id_order(store) -> None:
    split = split_from_store(store, "test", dim=4)
    assert split.atlas_ids == ["ROCO_00007", "ROCO_00008", "ROCO_00009"]
    assert split.captions == ["caption 2", "caption 1", "caption 0"]
    np.testing.assert_allclose(split.image_vectors, np.eye(4)[[2, 1, 0]], atol=1e-6)
    assert split.source == "atlas"


def test_split_from_store_refuses_a_missing_split_and_another_vector_size(store) -> None:
    with pytest.raises(EvalDataError, match="0 pairs of split 'validation'"):
        split_from_store(store, "val", dim=4)  # "val" means "validation"
    with pytest.raises(EvalDataError, match="4-d vectors but the CLIP under test gives 8-d"):
        split_from_store(store, "test", dim=8)


def test_sample_is_seeded_and_bounded() -> None:
    split = EvalSplit("test", "x", [str(i) for i in range(10)], [f"c{i}" for i in range(10)], np.eye(10))
    a, b = sample(split, 4, seed=3), sample(split, 4, seed=3)
    assert len(a) == 4 and a.atlas_ids == b.atlas_ids
    assert sample(split, None, seed=0) is split and sample(split, 50, seed=0) is split
    with pytest.raises(EvalDataError, match="limit: at least 2"):
        sample(split, 1, seed=0)


def test_split_from_roco_reads_and_encodes_the_demo_atlas(demo_atlas_dir: Path) -> None:
    clip = TableClip({}, np.eye(256))  # image vector = one-hot of the top-left pixel's red value
    split = split_from_roco(demo_atlas_dir, "test", clip, limit=5, seed=0)
    assert len(split) == 5 and split.name == "test"
    assert all(i.startswith("ROCO_") for i in split.atlas_ids) and all(split.captions)
    np.testing.assert_allclose(np.linalg.norm(split.image_vectors, axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="not found"):
        split_from_roco(demo_atlas_dir, "holdout", clip)
