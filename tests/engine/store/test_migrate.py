"""Moving the atlas between backends without re-embedding, through copy_atlas and the CLI."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from qdrant_client import QdrantClient

from engine.config import EngineSettings
from engine.store import cli
from engine.store.client import ClientStore
from engine.store.edge import EdgeStore
from engine.store.migrate import MigrationError, carry_provenance, copy_atlas

from .conftest import DIM, MODALITIES, make_client, make_edge, make_records, stand_in_server

# qdrant-client warns (from a later point in time) when it cannot reach a server to check its version
pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")


def _snapshot(store, queries) -> list[list[tuple[str, float]]]:
    return [[(h.atlas_id, round(h.score, 4)) for h in store.search(q, 5)] for q in queries]


def test_embedded_to_server_and_back_gives_the_same_atlas(tmp_path, records):
    queries = list(np.random.default_rng(5).standard_normal((10, DIM)))
    src = make_edge(tmp_path / "src")
    src.upsert(records)
    server = make_client()
    assert copy_atlas(src, server, batch_size=64, progress=False) == 300
    back = make_edge(tmp_path / "back")
    assert copy_atlas(server, back, batch_size=100, progress=False) == 300

    assert _snapshot(back, queries) == _snapshot(src, queries) == _snapshot(server, queries)
    for m in MODALITIES:
        assert back.count(modality=m) == src.count(modality=m)
    originals = {r.payload.atlas_id: r for b in src.scroll() for r in b}
    for batch in back.scroll():
        for r in batch:
            assert r.payload == originals[r.payload.atlas_id].payload  # images travel too
            np.testing.assert_allclose(r.vector, originals[r.payload.atlas_id].vector, atol=1e-6)
    for s in (src, server, back):
        s.close()


def test_copying_again_is_idempotent(tmp_path, records):
    src, dst = make_edge(tmp_path / "src"), make_client()
    src.upsert(records[:50])
    copy_atlas(src, dst, progress=False)
    copy_atlas(src, dst, progress=False)
    assert dst.count() == 50


def test_the_count_check_catches_a_destination_that_holds_other_points(tmp_path, records):
    src, dst = make_edge(tmp_path / "src"), make_client()
    src.upsert(records[:20])
    dst.upsert(records[100:105])
    with pytest.raises(MigrationError, match="source holds 20 points, the destination 25"):
        copy_atlas(src, dst, progress=False)


def test_copy_refuses_mismatched_dimensions(tmp_path):
    with pytest.raises(ValueError, match="32-d.*64-d"):
        copy_atlas(make_edge(tmp_path / "a"), make_client(dim=64), progress=False)


def test_copy_refuses_a_bad_batch_size(tmp_path):
    with pytest.raises(ValueError, match="batch_size"):
        copy_atlas(make_edge(tmp_path / "a"), make_client(), batch_size=0, progress=False)


# ---- the `python -m engine migrate` subcommand ----------------------------------------------


@pytest.fixture
def server(monkeypatch) -> QdrantClient:
    """Stand-in for a Qdrant server at SERVER_URL: one shared in-memory client."""
    return stand_in_server(monkeypatch)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="engine")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_exports_the_configured_atlas_and_imports_it_back(tmp_path, server, records, capsys):
    settings = EngineSettings(data_dir=tmp_path / "data")
    with EdgeStore.create(settings.atlas_dir, DIM) as atlas:
        atlas.upsert(records)

    args = _parse(
        ["migrate", "--to-url", "http://qdrant.test:6333", "--collection", "atlas2", "--no-progress"]
    )
    assert args.func(args, settings) == 0
    out = capsys.readouterr().out
    assert "copied 300 points to http://qdrant.test:6333; alias 'atlas2' on http://qdrant.test:6333 now points to " \
           "'atlas2-v" in out
    assert server.count("atlas2").count == 300  # through the alias, as the engines read it
    assert [a.alias_name for a in server.get_aliases().aliases] == ["atlas2"]

    target = tmp_path / "imported"
    args = _parse(
        [
            "migrate",
            "--from-url",
            "http://qdrant.test:6333",
            "--collection",
            "atlas2",
            "--to-path",
            str(target),
            "--no-progress",
        ]
    )
    assert args.func(args, settings) == 0
    with EdgeStore.open(target) as imported:
        assert imported.count() == 300
        assert imported.image("ROCO_00004") is not None
        assert imported.search(records[9].vector, 1)[0].atlas_id == "ROCO_00009"


def test_cli_export_takes_an_older_atlas_record_along(tmp_path, server, records, capsys):
    import json

    from engine.store.provenance import read_provenance

    settings = EngineSettings(data_dir=tmp_path / "data")
    with EdgeStore.create(settings.atlas_dir, DIM) as atlas:
        atlas.upsert(records[:25])
    clip = "hf-hub:luhuitong/CLIP-ViT-L-14-448px-MedICaT-ROCO"
    (settings.data_dir / "atlas.clip.json").write_text(json.dumps({"clip_model": clip, "dim": DIM}))

    args = _parse(["migrate", "--to-url", "http://qdrant.test:6333", "--no-progress"])
    assert args.func(args, settings) == 0
    assert "copied 25 points" in capsys.readouterr().out
    with ClientStore(server, "roco") as copied:  # the server now guards against another CLIP too
        assert read_provenance(copied).clip_model == clip and copied.count() == 25


def test_cli_without_an_atlas_says_so(tmp_path, server, capsys):
    settings = EngineSettings(data_dir=tmp_path / "empty")
    args = _parse(["migrate", "--to-url", "http://qdrant.test:6333"])
    assert args.func(args, settings) == 2
    assert "no embedded atlas at" in capsys.readouterr().err


def test_cli_import_needs_a_target_path(tmp_path, server, capsys):
    args = _parse(["migrate", "--from-url", "http://qdrant.test:6333"])
    assert args.func(args, EngineSettings(data_dir=tmp_path)) == 2
    assert "--to-path" in capsys.readouterr().err


def test_cli_import_from_a_missing_collection_is_a_clear_failure(tmp_path, server, capsys):
    args = _parse(
        [
            "migrate",
            "--from-url",
            "http://qdrant.test:6333",
            "--collection",
            "nope",
            "--to-path",
            str(tmp_path / "t"),
        ]
    )
    assert args.func(args, EngineSettings(data_dir=tmp_path)) == 1
    assert "collection 'nope' does not exist" in capsys.readouterr().err


def test_cli_reports_an_unreachable_server_without_a_traceback(tmp_path, capsys):
    settings = EngineSettings(data_dir=tmp_path / "data")
    EdgeStore.create(settings.atlas_dir, DIM).close()
    args = _parse(["migrate", "--to-url", "http://127.0.0.1:9", "--no-progress"])  # port 9: nothing listens
    assert args.func(args, settings) == 1
    err = capsys.readouterr().err
    assert err.startswith("migrate: ") and "Traceback" not in err


def test_cli_needs_a_direction():
    with pytest.raises(SystemExit):
        _parse(["migrate"])


def test_cli_batch_size_must_be_positive(tmp_path, capsys):
    args = _parse(["migrate", "--to-url", "http://qdrant.test:6333", "--batch-size", "0"])
    assert args.func(args, EngineSettings(data_dir=tmp_path)) == 2
    assert "--batch-size" in capsys.readouterr().err


def test_records_survive_with_their_vectors_not_recomputed(tmp_path):
    """Vectors arrive bit-for-bit close: nothing is re-embedded on the way."""
    records = make_records(40, seed=11)
    src = make_edge(tmp_path / "s")
    src.upsert(records)
    dst = make_client()
    copy_atlas(src, dst, progress=False)
    got = {
        h.atlas_id: h.vector for h in dst.retrieve([r.payload.atlas_id for r in records], with_vectors=True)
    }
    for r in records:
        np.testing.assert_allclose(got[r.payload.atlas_id], r.vector, atol=1e-6)


def test_cli_names_a_bad_setting_instead_of_a_traceback(monkeypatch, capsys):
    from engine.config import get_settings

    monkeypatch.setenv("MIRAGE_HNSW_M", "2")
    get_settings.cache_clear()
    try:
        args = _parse(["migrate", "--to-url", "http://qdrant.test:6333"])
        assert args.func(args) == 2
    finally:
        get_settings.cache_clear()
    assert "MIRAGE_HNSW_M" in capsys.readouterr().err


def test_a_copy_of_the_demo_atlas_is_not_the_demo(tmp_path, records):
    """The demo mark is what lets the engine delete an atlas: a copy (whose destination may already hold
    the user's own points) never carries it, only the CLIP model's name."""
    from engine.store.provenance import AtlasProvenance, read_provenance, record_provenance

    src = make_edge(tmp_path / "src")
    src.upsert(records[:10])
    record_provenance(src, AtlasProvenance(clip_model="local:tiny-0000/clip[]", dim=DIM, demo=True))
    dst = make_edge(tmp_path / "dst")
    dst.upsert(records[10:15])  # the user's own points, already there
    carry_provenance(src, dst)
    assert read_provenance(dst) == AtlasProvenance(clip_model="local:tiny-0000/clip[]", dim=DIM, demo=False)
    for store in (src, dst):
        store.close()
