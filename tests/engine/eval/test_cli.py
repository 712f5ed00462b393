"""`python -m engine eval` on the tiny profile: mechanics only (random LLM and diffusion, tiny CLIP)."""

from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path

import pytest
import torch

from engine.config import get_settings
from engine.eval.cli import register


@pytest.fixture
def tiny_env(monkeypatch, test_cache_dir: Path, tiny_paths):
    """Settings of the tiny profile whose model cache is the test cache (so nothing is rebuilt)."""
    monkeypatch.setenv("MIRAGE_PROFILE", "tiny")
    monkeypatch.setenv("MIRAGE_DATA_DIR", str(test_cache_dir))
    monkeypatch.setenv("MIRAGE_DEVICE", "cpu")
    monkeypatch.setenv("MIRAGE_LLM_MAX_NEW_TOKENS", "12")
    get_settings.cache_clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only adds contention on a shared CI box
    yield
    torch.set_num_threads(threads)
    get_settings.cache_clear()


@pytest.fixture
def tiny_data_dir(monkeypatch, tmp_path: Path, test_cache_dir: Path, tiny_paths) -> Path:
    """A fresh MIRAGE_DATA_DIR (no atlas yet) sharing the cached tiny models and demo atlas."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("models", "demo-roco"):
        (data / name).symlink_to(test_cache_dir / name, target_is_directory=True)
    monkeypatch.setenv("MIRAGE_DATA_DIR", str(data))
    get_settings.cache_clear()
    return data


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m engine")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["eval", *argv])


def test_eval_on_the_tiny_profile_writes_report_csv_and_plots(tiny_env, demo_atlas_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    args = _parse("--roco", str(demo_atlas_dir), "--out", str(out), "--n-enrich", "4", "--n-synthetic", "4",
                  "--synthetic-steps", "1", "--pairs", "10", "--draws", "2", "--seed", "1")
    assert args.func(args) == 0

    for name in ("report.md", "metrics.csv", "scores.csv", "consistency.png", "roc.png", "retrieval.png",
                 "enrichment.png", "synthetic.png"):
        assert (out / name).stat().st_size > 0, name
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    values = {(r["section"], r["item"], r["metric"]): float(r["value"]) for r in rows}
    n = int(values[("retrieval_whole_split", "text_to_image", "n_candidates")])
    assert n == 24  # the demo atlas's test split
    for (section, _, metric), value in values.items():
        if metric.startswith("R@") or metric in ("roc_auc", "heldout_accuracy", "fit_accuracy"):
            assert 0.0 <= value <= 1.0, (section, metric, value)
        if metric in ("mean_rank", "median_rank"):
            assert 1.0 <= value <= n
    assert values[("retrieval_protocol", "subsets", "size")] == 10
    assert values[("enrichment", "queries", "n")] == 4
    # the tiny CLIP was trained on the demo atlas: it must beat chance (R@10 of random = 10/24)
    assert values[("retrieval_whole_split", "text_to_image", "R@10")] > 10 / 24
    report = (out / "report.md").read_text()
    assert "# MIRAGE evaluation: test split (24 pairs)" in report
    assert "synthetic image–caption" in report and "real image–caption" in report


def test_eval_reads_the_indexed_split_from_the_atlas(tiny_env, tiny_data_dir: Path, clip_encoder,
                                                     demo_atlas_dir: Path, tmp_path: Path) -> None:
    from engine.atlas.ingest import index_roco_layout
    from engine.store.factory import open_store

    with open_store(get_settings(), clip_encoder.dim) as store:
        index_roco_layout(demo_atlas_dir, store, clip_encoder, splits=["validation"], progress=False)
    args = _parse("--split", "validation", "--out", str(tmp_path / "out"), "--n-enrich", "0",
                  "--n-synthetic", "0", "--pairs", "8", "--draws", "1")
    assert args.func(args) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "# MIRAGE evaluation: validation split (24 pairs)" in report
    assert "Source: `atlas`" in report
    assert "enrichment and text–text consistency skipped: n_enrich=0" in report


def test_tiny_profile_without_an_atlas_evaluates_the_demo_atlas(tiny_env, tiny_data_dir: Path,
                                                                tmp_path: Path) -> None:
    args = _parse("--out", str(tmp_path / "out"), "--n-enrich", "0", "--n-synthetic", "0", "--limit", "12")
    assert args.func(args) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "# MIRAGE evaluation: test split (12 pairs)" in report and "demo-roco" in report
    assert not (tiny_data_dir / "atlas").exists()  # nothing was created in the data dir


def test_bad_arguments_are_refused_by_argparse_naming_the_option(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        _parse("--pairs", "1")
    assert exc.value.code == 2
    assert "--pairs: must be at least 2, got 1" in capsys.readouterr().err


def test_a_missing_split_is_one_clear_error_line(tiny_env, demo_atlas_dir: Path, tmp_path: Path, caplog) -> None:
    args = _parse("--roco", str(demo_atlas_dir), "--split", "holdout", "--out", str(tmp_path),
                  "--n-enrich", "0", "--n-synthetic", "0")
    with caplog.at_level(logging.ERROR):
        assert args.func(args) == 2
    assert "split(s) ['holdout'] not found" in caplog.text
    assert not (tmp_path / "report.md").exists()
