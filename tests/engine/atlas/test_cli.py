"""`python -m engine index`, through the engine's real command line and settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.__main__ import main
from engine.config import get_settings


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_paths):
    """Settings pointing at a fresh data dir and the tiny CLIP on CPU (the LLM and diffusion are not needed)."""
    monkeypatch.setenv("MIRAGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MIRAGE_CLIP_MODEL", str(tiny_paths.clip))
    monkeypatch.setenv("MIRAGE_DEVICE", "cpu")
    monkeypatch.delenv("MIRAGE_QDRANT_URL", raising=False)
    monkeypatch.delenv("MIRAGE_PROFILE", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


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
