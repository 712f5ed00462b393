"""`engine eval`'s quiz section: distractor hardness under the fairness rules, and topic precision."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.engine.eval.test_cli import _parse, tiny_data_dir, tiny_env  # noqa: F401 - the fixtures

pytestmark = pytest.mark.slow


def test_eval_reports_distractor_hardness_and_topic_precision_on_the_demo_atlas(
        tiny_env, tiny_data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    out = tmp_path / "out"
    args = _parse("--out", str(out), "--n-enrich", "0", "--n-synthetic", "0", "--n-ask", "0", "--limit", "8",
                  "--pairs", "4", "--draws", "1", "--n-quiz", "40", "--topic", "ultrasound", "--topic", "angiography")
    assert args.func(args) == 0
    assert f"quiz: {out / 'quiz.md'}" in capsys.readouterr().out
    report = (out / "quiz.md").read_text()
    assert "Caption questions asked: 40, made: 40 (4 choices; distractor threshold 0.95)." in report
    near = float(re.search(r"\| distractors \(fair, nearest first\) \| ([-0-9.]+) \|", report).group(1))
    chance = float(re.search(r"\| random usable atlas items \| ([-0-9.]+) \|", report).group(1))
    assert near > chance + 0.3  # hard negatives stay hard under the rules (measured about 0.72 against 0.0)
    assert "rule breaks in the questions made: 0." in report and "same_article" in report
    assert re.search(r"\| ultrasound \| \d+ \| (0\.\d\d|1\.00) \|", report)
    assert "| angiography | 0 | no pool: topic: 'angiography' matches 4 usable quiz items" in report
