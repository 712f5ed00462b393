"""Follow-up grounding in `engine eval`: the counts follow what the citation check did to each answer."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from engine.eval.data import EvalSplit
from engine.eval.grounding import QUESTIONS, grounding_effect
from engine.eval.report import write_report
from engine.eval.runner import EvalConfig, run_evaluation

from .fakes import TableClip

N = 6
# what the LLM writes, in turn: cited, invented, uncited, half-invented, zero, a list with one valid number
REPLIES = ["Bright [1].", "A glioma [7].", "A cyst.", "Round [2] and [9].", "Nothing [0].", "Both [3, 12]."]


class CyclingLLM:
    """Answers with the next of `replies`; remembers each prompt."""

    model_id = "cycling-llm"

    def __init__(self, replies: list[str]) -> None:
        self.replies, self.prompts = replies, []

    def generate(self, prompt, *, max_new_tokens, top_p, seed, cancel=None) -> str:
        self.prompts.append(prompt.text)
        return self.replies[(len(self.prompts) - 1) % len(self.replies)]


@pytest.fixture
def split() -> EvalSplit:
    images = np.eye(N, dtype=np.float32)
    return EvalSplit("test", "hand-made", [f"R{i}" for i in range(N)], [f"caption {i}" for i in range(N)], images)


def test_counts_follow_the_citation_check(split):
    llm = CyclingLLM(REPLIES)
    result = grounding_effect(split, split.image_vectors, llm, list(range(N)), context=3, seed=2)
    assert (result.n, result.context) == (N, 3)
    assert result.grounded == 3 and result.fell_back == 3  # "Bright [1]", "Round [2]", "Both [3]"
    assert result.grounded_share == pytest.approx(0.5)
    assert result.citations_kept == 3
    assert result.citations_dropped == 4  # [7], [9], [0], [12]
    assert result.examples[0][1] == "Bright [1]." and result.examples[0][0] in QUESTIONS


def test_the_context_is_the_captions_nearest_images_numbered_from_one(split):
    llm = CyclingLLM(["x"])
    grounding_effect(split, split.image_vectors, llm, [4], context=2)
    numbered = re.findall(r"^\[(\d)\] (.*)$", llm.prompts[0], flags=re.MULTILINE)
    assert numbered[0] == ("1", "caption 4.")  # its own image is the nearest
    assert len(numbered) == 2


def test_the_report_carries_the_grounding_figures(split, tmp_path: Path):
    clip = TableClip({c: split.image_vectors[i] for i, c in enumerate(split.captions)}, split.image_vectors)
    config = EvalConfig(pairs=4, draws=1, n_consistency=N, n_enrich=0, n_synthetic=0, n_ask=N)
    results = run_evaluation(split, clip, llm=CyclingLLM(REPLIES), config=config)
    assert results.grounding is not None and results.grounding.grounded == 3
    write_report(results, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "## Follow-up grounding" in report
    assert "| grounded (≥ 1 valid citation) | 3 | 0.500 |" in report
    assert "| fell back to the captions | 3 | 0.500 |" in report
    assert "dropped as out of range: 4" in report
    with (tmp_path / "metrics.csv").open() as f:
        rows = {(r["section"], r["metric"]): float(r["value"]) for r in csv.DictReader(f) if r["section"] == "grounding"}
    assert rows[("grounding", "grounded_share")] == 0.5
    assert rows[("grounding", "citations_dropped_out_of_range")] == 4.0


def test_without_an_llm_grounding_is_skipped_with_a_note(split):
    clip = TableClip({c: split.image_vectors[i] for i, c in enumerate(split.captions)}, split.image_vectors)
    results = run_evaluation(split, clip, config=EvalConfig(pairs=4, draws=1, n_consistency=N, n_ask=3))
    assert results.grounding is None
    assert "follow-up grounding skipped: no LLM" in results.notes


def test_a_negative_sample_size_is_refused_by_name():
    with pytest.raises(ValueError, match="n_ask: 0"):
        EvalConfig(n_ask=-1)
