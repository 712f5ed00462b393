"""`python -m engine index`, through the engine's real command line and settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.__main__ import main
from engine.config import get_settings


def test_index_roco_then_again_adds_nothing(roco_tree, settings_env: Path, capsys: pytest.CaptureFixture):
    root, expected = roco_tree
    argv = ["index", "--roco", str(root), "--batch-size", "8", "--workers", "1", "--no-progress"]

    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"added {len(expected.added)}," in out
    assert "missing_image 1" in out and "decompression_bomb 1" in out
    assert f"atlas: {len(expected.added)} images" in out
    lines = (settings_env / "index-report.jsonl").read_text().splitlines()
    assert {json.loads(line)["id"] for line in lines} >= {"ROCO_90002", "ROCO_90004"}

    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "added 0," in out and f"already stored {len(expected.added)}" in out
    assert f"atlas: {len(expected.added)} images" in out


def test_index_limit_and_split(roco_tree, settings_env: Path, capsys: pytest.CaptureFixture, tmp_path: Path):
    root, _ = roco_tree
    report = tmp_path / "r.jsonl"
    assert main(["index", "--roco", str(root), "--split", "validation", "--limit", "2",
                 "--report", str(report), "--no-progress"]) == 0
    assert "atlas: 2 images" in capsys.readouterr().out
    assert report.exists()


def test_index_parquet(parquet_tree, settings_env: Path, capsys: pytest.CaptureFixture):
    root, expected = parquet_tree
    assert main(["index", "--parquet", str(root), "--max-pixels", "1000000", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"atlas: {len(expected.added)} images" in out
    assert "image_too_large 1" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--roco", "/no/such/roco"], "index: error: ROCO root '/no/such/roco' is not a directory"),
        (["--parquet", "/no/such.parquet"], "neither a file, a directory nor a hub dataset id"),
        (["--parquet", "x.parquet", "--subset", "radiology"], "--subset applies to --roco only"),
    ],
)
def test_bad_sources_fail_fast_with_one_clear_line(argv, message, capsys: pytest.CaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("MIRAGE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert main(["index", *argv]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_numbers_are_refused_by_the_parser(capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit) as exit_:
        main(["index", "--roco", "x", "--batch-size", "0"])
    assert exit_.value.code == 2
    assert "--batch-size: must be at least 1, got 0" in capsys.readouterr().err


def test_index_names_the_clip_model_in_the_atlas_before_storing(roco_tree, settings_env: Path, tiny_paths, capsys):
    from engine.config import get_settings
    from engine.store.factory import open_configured_store
    from engine.store.provenance import AtlasProvenance, read_provenance

    root, _ = roco_tree
    assert main(["index", "--roco", str(root), "--split", "validation", "--limit", "2", "--no-progress"]) == 0
    with open_configured_store(get_settings(), 1) as atlas:
        assert read_provenance(atlas) == AtlasProvenance.of(str(tiny_paths.clip), atlas.dim, demo=False)


def test_index_into_another_models_atlas_is_refused_and_leaves_it_as_it_was(
    roco_tree, settings_env: Path, clip_encoder, capsys
):
    import numpy as np

    from engine.config import get_settings
    from engine.store.base import AtlasPayload, AtlasRecord
    from engine.store.factory import open_configured_store
    from engine.store.provenance import AtlasProvenance, read_provenance, record_provenance

    medicat = "hf-hub:luhuitong/CLIP-ViT-L-14-448px-MedICaT-ROCO"
    vectors = np.random.default_rng(1).normal(size=(3, clip_encoder.dim)).astype(np.float32)
    with open_configured_store(get_settings(), clip_encoder.dim) as atlas:
        atlas.upsert([AtlasRecord(v, AtlasPayload(f"ROCO_0000{i}", "x")) for i, v in enumerate(vectors)])
        record_provenance(atlas, AtlasProvenance(clip_model=medicat, dim=clip_encoder.dim))

    root, _ = roco_tree
    assert main(["index", "--roco", str(root), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("index: error: ") and medicat in err and "tiny" in err
    with open_configured_store(get_settings(), clip_encoder.dim) as atlas:
        assert atlas.count() == 3 and read_provenance(atlas).clip_model == medicat


def test_index_parquet_with_licences_names_each_source_and_counts_the_rest(
    parquet_tree, settings_env: Path, tmp_path: Path, capsys
):
    from engine.config import get_settings
    from engine.store.factory import open_configured_store

    root, expected = parquet_tree
    ids = sorted(expected.added)
    licensed = ids[:-2]
    licences = tmp_path / "roco" / "data" / "train" / "radiology" / "licences.txt"
    licences.parent.mkdir(parents=True)
    licences.write_text("ROCO_ID,PMC_ID,CC\n"
                        + "".join(f"{i},PMC{1000 + n}_fig1.jpg,CC BY 4.0\n" for n, i in enumerate(licensed)))
    argv = ["index", "--parquet", str(root), "--max-pixels", "1000000", "--licences", str(tmp_path / "roco"),
            "--no-progress"]
    assert main(argv) == 0
    assert "no_licence 2" in capsys.readouterr().out  # the rows still without one are counted
    with open_configured_store(get_settings(), 1) as atlas:
        stored = {hit.atlas_id: hit.payload for hit in atlas.retrieve(ids)}
    assert (stored[licensed[0]].pmc_id, stored[licensed[0]].licence) == ("PMC1000", "CC BY 4.0")
    assert stored[ids[-1]].licence is None


def test_index_licences_from_a_missing_place_fail_before_the_model_loads(parquet_tree, settings_env, capsys):
    root, _ = parquet_tree
    assert main(["index", "--parquet", str(root), "--licences", "/nonexistent/roco"]) == 2
    assert "--licences '/nonexistent/roco' is neither a ROCO folder nor a licences file" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:Failed to obtain server version")
def test_index_against_a_server_builds_versions_behind_the_alias(roco_tree, settings_env, monkeypatch, capsys):
    from engine.store.client import ClientStore
    from tests.engine.store.conftest import SERVER_URL, stand_in_server

    shared = stand_in_server(monkeypatch)
    monkeypatch.setenv("MIRAGE_QDRANT_URL", SERVER_URL)
    get_settings.cache_clear()
    root, _ = roco_tree
    argv = ["index", "--roco", str(root), "--split", "validation", "--limit", "2", "--no-progress"]

    assert main(argv) == 0
    out = capsys.readouterr().out
    first = out.split("building version '", 1)[1].split("'", 1)[0]
    assert f"alias 'roco' on {SERVER_URL} now points to '{first}' (2 images)" in out
    assert ClientStore(shared, "roco").count() == 2  # what the engines read

    assert main(argv) == 0  # a re-index: a new version, switched to when complete
    out = capsys.readouterr().out
    second = out.split("building version '", 1)[1].split("'", 1)[0]
    assert second > first and f"(was '{first}', kept" in out

    assert main(["index", "--list-versions"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[:2] == [f"  {first}  2 images", f"* {second}  2 images"]
    assert "the engine never deletes a version" in listed[2] and f"{SERVER_URL}/collections/NAME" in listed[2]
    with pytest.raises(SystemExit):  # there is no command that deletes an atlas version
        main(["index", "--drop-version", first])
    assert {c.name for c in shared.get_collections().collections} >= {first, second}
    assert ClientStore(shared, "roco").count() == 2


def test_index_against_an_unreachable_server_fails_at_once_naming_it(roco_tree, settings_env, monkeypatch, capsys):
    monkeypatch.setenv("MIRAGE_QDRANT_URL", "http://127.0.0.1:9")  # port 9: nothing listens
    get_settings.cache_clear()
    root, _ = roco_tree
    assert main(["index", "--roco", str(root), "--no-progress"]) == 1
    assert capsys.readouterr().err.startswith("index: error: cannot reach the Qdrant server at http://127.0.0.1:9")
