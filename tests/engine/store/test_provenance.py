"""The atlas's own record (which CLIP filled it, whether it is the demo) lives inside the store.

It must never reach a user (search, counts, scrolls, exports), must travel with the atlas, and must
make opening another model's atlas fail loudly while leaving it exactly as it was.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from qdrant_client import QdrantClient

from engine.config import EngineSettings
from engine.store.base import AtlasDimensionError, SearchParams
from engine.store.edge import EdgeStore
from engine.store.factory import open_store, rebuild_demo_store
from engine.store.migrate import MigrationError, copy_atlas
from engine.store.provenance import (
    AtlasMismatchError,
    AtlasProvenance,
    read_provenance,
    record_provenance,
)

from .conftest import DIM, MODALITIES, SERVER_URL, make_client, make_edge, make_records, stand_in_server

MEDICAT = "hf-hub:luhuitong/CLIP-ViT-L-14-448px-MedICaT-ROCO"
pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")


@pytest.fixture
def server(monkeypatch) -> QdrantClient:
    """A stand-in Qdrant server at SERVER_URL."""
    return stand_in_server(monkeypatch)


def _settings(tmp_path, backend: str) -> EngineSettings:
    url = SERVER_URL if backend == "server" else None
    return EngineSettings(_env_file=None, data_dir=tmp_path / "data", qdrant_url=url)


def _contents(store) -> dict[str, str]:
    return {r.payload.atlas_id: r.payload.caption for batch in store.scroll(with_images=False) for r in batch}


def test_the_record_never_reaches_what_users_see(store, records):
    store.upsert(records[:40])
    record_provenance(store, AtlasProvenance(clip_model=MEDICAT, dim=DIM))
    store.optimize()

    assert store.count() == 40
    assert sum(store.count(modality=m) for m in MODALITIES) == 40
    assert len(_contents(store)) == 40
    query = records[3].vector
    for params in (None, SearchParams(exact=True)):
        hits = store.search(query, 100, params=params)
        assert len(hits) == 40 and all(h.atlas_id.startswith("ROCO_") for h in hits)
    assert len(store.search(query, 100, modality="ct")) == 10
    assert read_provenance(store) == AtlasProvenance(clip_model=MEDICAT, dim=DIM)


def test_the_record_is_replaced_not_duplicated(store, records):
    store.upsert(records[:5])
    record_provenance(store, AtlasProvenance(clip_model="a", dim=DIM, demo=True))
    record_provenance(store, AtlasProvenance(clip_model="b", dim=DIM))
    assert read_provenance(store) == AtlasProvenance(clip_model="b", dim=DIM, demo=False)
    assert store.count() == 5


def test_an_embedded_atlas_keeps_its_record_across_reopening(tmp_path, records):
    with make_edge(tmp_path / "atlas") as atlas:
        atlas.upsert(records[:3])
        record_provenance(atlas, AtlasProvenance(clip_model=MEDICAT, dim=DIM))
    with EdgeStore.open(tmp_path / "atlas") as again:
        assert read_provenance(again).clip_model == MEDICAT


def test_the_record_travels_with_a_copy_both_ways(tmp_path, records):
    src = make_edge(tmp_path / "src")
    src.upsert(records[:30])
    record_provenance(src, AtlasProvenance(clip_model=MEDICAT, dim=DIM))
    server = make_client()
    assert copy_atlas(src, server, progress=False) == 30  # the count check ignores the record
    back = make_edge(tmp_path / "back")
    copy_atlas(server, back, progress=False)
    assert read_provenance(server).clip_model == read_provenance(back).clip_model == MEDICAT
    assert back.count() == 30


def test_a_copy_into_another_models_atlas_is_refused_before_any_point_moves(tmp_path, records):
    src, dst = make_edge(tmp_path / "src"), make_client()
    src.upsert(records[:10])
    record_provenance(src, AtlasProvenance(clip_model=MEDICAT, dim=DIM))
    dst.upsert(records[100:104])
    record_provenance(dst, AtlasProvenance(clip_model="hf-hub:other/clip", dim=DIM))
    with pytest.raises(MigrationError, match="hf-hub:other/clip.*MedICaT"):
        copy_atlas(src, dst, progress=False)
    assert dst.count() == 4 and read_provenance(dst).clip_model == "hf-hub:other/clip"


@pytest.mark.parametrize("backend", ["embedded", "server"])
def test_opening_another_models_atlas_names_both_and_leaves_it_untouched(tmp_path, backend, request, records):
    if backend == "server":
        request.getfixturevalue("server")
    settings = _settings(tmp_path, backend)
    with open_store(settings, DIM) as atlas:
        atlas.upsert(records[:30])
        record_provenance(atlas, AtlasProvenance(clip_model=MEDICAT, dim=DIM))
        before = _contents(atlas)

    with pytest.raises(AtlasMismatchError) as caught:
        open_store(settings, DIM, clip_model="local-dir:/models/tiny-clip")
    message = str(caught.value)
    assert MEDICAT in message and "local-dir:/models/tiny-clip" in message
    assert "MIRAGE_DATA_DIR" in message and "python -m engine index" in message

    with open_store(settings, DIM, clip_model=MEDICAT) as atlas:  # the right model still opens it
        assert _contents(atlas) == before
        assert read_provenance(atlas) == AtlasProvenance(clip_model=MEDICAT, dim=DIM)


def test_an_atlas_of_another_width_names_the_model_that_filled_it(tmp_path):
    settings = _settings(tmp_path, "embedded")
    with open_store(settings, 768) as atlas:
        atlas.upsert(make_records(30, dim=768))
        record_provenance(atlas, AtlasProvenance(clip_model=MEDICAT, dim=768))
    with pytest.raises(AtlasMismatchError, match=r"MedICaT-ROCO' \(768-d\).*'tiny-clip' \(64-d\)"):
        open_store(settings, 64, clip_model="tiny-clip")
    with pytest.raises(AtlasDimensionError, match="768-d vectors but the CLIP model gives 64-d"):
        open_store(settings, 64)
    with open_store(settings, 768) as atlas:
        assert atlas.count() == 30


def test_an_older_atlas_has_its_sidecar_record_moved_inside(tmp_path, records):
    settings = _settings(tmp_path, "embedded")
    with make_edge(settings.atlas_dir) as atlas:
        atlas.upsert(records[:12])
    (settings.data_dir / "atlas.clip.json").write_text(json.dumps({"clip_model": MEDICAT, "dim": DIM}))

    with pytest.raises(AtlasMismatchError, match="MedICaT"):
        open_store(settings, DIM, clip_model="tiny-clip")
    with EdgeStore.open(settings.atlas_dir) as atlas:  # inside now: it travels with the atlas
        assert read_provenance(atlas) == AtlasProvenance(clip_model=MEDICAT, dim=DIM, demo=False)
        assert atlas.count() == 12


def test_a_sidecar_beside_an_empty_atlas_is_not_adopted(tmp_path):
    settings = _settings(tmp_path, "embedded")
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "atlas.clip.json").write_text(json.dumps({"clip_model": MEDICAT, "dim": DIM}))
    with open_store(settings, DIM, clip_model="tiny-clip") as atlas:
        assert read_provenance(atlas) is None


@pytest.mark.parametrize("backend", ["embedded", "server"])
def test_only_an_embedded_atlas_marked_as_the_demo_can_be_rebuilt(tmp_path, backend, request, records):
    if backend == "server":
        request.getfixturevalue("server")
    settings = _settings(tmp_path, backend)
    atlas = open_store(settings, DIM)
    atlas.upsert(records[:20])
    record_provenance(atlas, AtlasProvenance(clip_model=MEDICAT, dim=DIM))
    with pytest.raises(PermissionError, match="not marked as the generated demo"):
        rebuild_demo_store(settings, atlas, DIM)
    assert atlas.count() == 20

    record_provenance(atlas, AtlasProvenance(clip_model="local:tiny-old/clip[]", dim=DIM, demo=True))
    if backend == "server":  # a server's collection is never deleted by the engine, demo or not
        with pytest.raises(PermissionError, match="never deletes a collection on a Qdrant server"):
            rebuild_demo_store(settings, atlas, DIM)
        assert atlas.count() == 20
        atlas.close()
        return
    fresh = rebuild_demo_store(settings, atlas, DIM)
    assert fresh.count() == 0 and read_provenance(fresh) is None
    fresh.upsert(records[:2])
    assert np.isclose(fresh.search(records[1].vector, 1)[0].score, 1.0, atol=1e-4)
    fresh.close()
