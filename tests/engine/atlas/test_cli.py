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
