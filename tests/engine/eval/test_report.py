"""The whole evaluation on hand-made models: every section computed, every file written and consistent."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.eval.data import EvalSplit
from engine.eval.report import write_report
from engine.eval.runner import EvalConfig, run_evaluation

from .fakes import EchoLLM, IndexDiffusion, TableClip

N = 8


@pytest.fixture(scope="module")
def results():
    images = np.eye(N)
    rng = np.random.default_rng(0)
    captions = [f"c{i}" for i in range(N)]
    texts = {c: images[i] + 0.3 * rng.random(N) for i, c in enumerate(captions)}
    texts |= {f"about {c}": images[i] for i, c in enumerate(captions)}
    clip = TableClip(texts, images)
    split = EvalSplit("test", "hand-made", [f"R{i}" for i in range(N)], captions, images.astype(np.float32))
    config = EvalConfig(seed=1, pairs=4, draws=3, n_consistency=N, n_enrich=6, n_synthetic=5, synthetic_steps=2)
    diffusion = IndexDiffusion({c: i for i, c in enumerate(captions)})
    return run_evaluation(split, clip, llm=EchoLLM(), diffusion=diffusion, config=config)


def test_every_section_is_computed(results) -> None:
    kinds = [c.kind for c in results.consistency]
    assert kinds == ["text–text", "real image–caption", "synthetic image–caption"]
    # explanations and synthetic images point exactly at the matched image: perfectly separable
    by_kind = {c.kind: c for c in results.consistency}
    assert by_kind["synthetic image–caption"].auc == 1.0
    assert by_kind["text–text"].matched_summary.n == 6
    assert results.retrieval.text_to_image.n_candidates == N
    assert (results.protocol.size, results.protocol.draws) == (4, 3)
    assert results.enrichment is not None and results.enrichment.second.recall[1] == 1.0
    assert results.synthetic is not None and len(results.synthetic.images) == 5
    assert results.models == {"clip": "table-clip", "llm": "echo-llm", "diffusion": "index-diffusion"}


def test_report_files_are_written_and_agree_with_the_results(results, tmp_path: Path) -> None:
    written = write_report(results, tmp_path / "out")
    expected = {"report.md", "metrics.csv", "scores.csv", "consistency.png", "roc.png", "retrieval.png",
                "enrichment.png", "synthetic.png"}
    assert set(written) == expected
    for name in expected:
        assert (tmp_path / "out" / name).stat().st_size > 0
    for name in expected - {"report.md", "metrics.csv", "scores.csv"}:
        with Image.open(tmp_path / "out" / name) as im:
            assert im.format == "PNG" and im.width > 100

    with (tmp_path / "out" / "metrics.csv").open() as f:
        rows = {(r["section"], r["item"], r["metric"]): float(r["value"]) for r in csv.DictReader(f)}
    assert rows[("retrieval_whole_split", "text_to_image", "R@1")] == pytest.approx(
        results.retrieval.text_to_image.recall[1])
    assert rows[("enrichment", "second_retrieval", "R@1")] == 1.0
    assert rows[("published", "text_to_image (validation, model card, luhuitong/CLIP-ViT-L-14-448px-MedICaT-ROCO)",
                  "R@10")] == 0.679
    assert 0.0 <= rows[("consistency", "real image–caption", "roc_auc")] <= 1.0

    with (tmp_path / "out" / "scores.csv").open() as f:
        scores = list(csv.DictReader(f))
    assert len(scores) == 2 * (6 + N + 5)

    report = (tmp_path / "out" / "report.md").read_text()
    for heading in ("## Semantic consistency", "## Retrieval", "## Does enrichment help?", "## Synthetic images"):
        assert heading in report
    assert "| image → text | " in report and "0.675" in report
    assert "> **explanation**: about c" in report


def test_without_llm_or_diffusion_those_parts_are_skipped_with_notes(tmp_path: Path) -> None:
    images = np.eye(5)
    clip = TableClip({f"c{i}": images[i] for i in range(5)}, images)
    split = EvalSplit("test", "hand-made", list("abcde"), [f"c{i}" for i in range(5)], images.astype(np.float32))
    res = run_evaluation(split, clip, config=EvalConfig(n_enrich=3, n_synthetic=3))
    assert res.enrichment is None and res.synthetic is None
    assert [c.kind for c in res.consistency] == ["real image–caption"]
    assert any("no LLM" in n for n in res.notes) and any("no diffusion model" in n for n in res.notes)
    written = write_report(res, tmp_path)
    assert "enrichment.png" not in written
    assert "Not run (see notes)" in (tmp_path / "report.md").read_text()


def test_bad_sample_sizes_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="pairs: at least 1"):
        EvalConfig(pairs=0)
    with pytest.raises(ValueError, match="n_synthetic: 0"):
        EvalConfig(n_synthetic=-1)


def test_a_pair_kind_that_does_not_separate_reads_not_separable_with_no_threshold(results, tmp_path: Path) -> None:
    # Matched pairs that score below unmatched ones (AUC < 0.5), as the synthetic image–caption pairs did
    # on a real run, where a threshold of -1.385 used to be reported.
    import dataclasses

    from engine.eval.consistency import consistency

    emb_left, emb_right = np.eye(6), np.eye(6)[::-1]  # every matched pair orthogonal, unmatched sometimes equal
    inverted = consistency("inverted", "matched pairs score lower", emb_left, emb_right, seed=0)
    assert inverted.auc <= 0.5 and not inverted.threshold.separable
    changed = dataclasses.replace(results, consistency=[results.consistency[0], inverted])
    write_report(changed, tmp_path / "out")

    report = (tmp_path / "out" / "report.md").read_text()
    (row,) = [line for line in report.splitlines() if line.startswith("| inverted |")]
    assert "not separable" in row
    with (tmp_path / "out" / "metrics.csv").open() as f:
        rows = {(r["item"], r["metric"]): float(r["value"]) for r in csv.DictReader(f) if r["section"] == "consistency"}
    assert rows[("inverted", "separable")] == 0.0 and ("inverted", "threshold") not in rows
    assert all(-1.0 <= v <= 1.0 for (item, metric), v in rows.items() if metric == "threshold")
