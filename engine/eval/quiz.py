"""How hard and how fair the quiz is on an atlas, and how far to trust a topic quiz (`engine eval`).

    distractor hardness  over N seeded caption questions: the mean CLIP image cosine of the distractors
                         to the item, against as many random usable atlas items; questions that could
                         not be made; candidates refused per fairness rule; rule breaks found (must be 0)
    topic precision      per topic: the pool's size and the share of its captions that mention the topic
                         (every word of the topic, after normalisation), or why there is no pool
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.pipelines.quiz import QuizPipeline, QuizUnavailable
from engine.pipelines.quiz_fair import fairness_problems, normalise
from engine.store.base import AtlasStore

# Topics asked when none are given: common radiology findings (real atlas) and the demo's words.
DEFAULT_TOPICS = ("pneumothorax", "pleural effusion", "fracture", "pneumonia", "aneurysm", "metastasis")
DEMO_TOPICS = ("ultrasound", "ring-shaped", "dark", "triangular", "nodule", "angiography")


@dataclass
class TopicPrecision:
    """One topic's pool: its size and the share of captions that mention the topic (None: no pool)."""

    topic: str
    pool: int
    precision: float | None
    note: str = ""


@dataclass
class QuizEval:
    """The quiz section of the evaluation."""

    questions: int
    made: int
    distractor_cosine: float
    random_cosine: float
    refused: dict[str, int] = field(default_factory=dict)
    rule_breaks: int = 0
    topics: list[TopicPrecision] = field(default_factory=list)
    threshold: float = 0.0
    floor: float = 0.0


def evaluate_quiz(quiz: QuizPipeline, store: AtlasStore, *, questions: int, topics: list[str],
                  choices: int = 4, seed: int = 0) -> QuizEval:
    """Ask `questions` seeded caption questions and one pool per topic; see the module doc."""
    rng = np.random.default_rng(seed)
    near: list[float] = []
    chance: list[float] = []
    refused: dict[str, int] = {}
    made = breaks = 0
    walk = quiz.items(None, "caption", choices) if questions else []
    for s in range(questions):
        try:
            result = quiz(seed=seed + s, choices=choices)
        except QuizUnavailable:
            continue
        made += 1
        item = result.item
        assert item.vector is not None
        wrong = [c.hit for i, c in enumerate(result.choices) if i != result.answer and c.hit is not None]
        vectors = {h.atlas_id: h.vector for h in store.retrieve([h.atlas_id for h in wrong], with_vectors=True)}
        near += [float(vectors[h.atlas_id] @ item.vector) for h in wrong]
        others = [i for i in rng.choice(walk, size=min(len(walk), len(wrong) + 1), replace=False)
                  if i != item.atlas_id][: len(wrong)]
        chance += [float(h.vector @ item.vector) for h in store.retrieve(others, with_vectors=True)]
        breaks += len(fairness_problems(item, wrong))
        for reason, n in result.refused.items():
            refused[reason] = refused.get(reason, 0) + n
    return QuizEval(questions=questions, made=made, distractor_cosine=float(np.mean(near)) if near else float("nan"),
                    random_cosine=float(np.mean(chance)) if chance else float("nan"), refused=refused,
                    rule_breaks=breaks, topics=[topic_precision(quiz, store, t) for t in topics],
                    threshold=quiz.distractor_threshold, floor=quiz.finder.topic_floor)


def topic_precision(quiz: QuizPipeline, store: AtlasStore, topic: str) -> TopicPrecision:
    """The topic's pool and how many of its captions mention every word of the topic."""
    try:
        pool = quiz.pool(None, "caption", 4, topic=topic).walk
    except QuizUnavailable as exc:
        return TopicPrecision(topic, 0, None, str(exc))
    wanted = normalise(topic).split()
    captions = [f" {normalise(h.payload.caption)} " for h in store.retrieve(pool)]
    mention = sum(all(f" {w}" in c for w in wanted) for c in captions)
    return TopicPrecision(topic, len(pool), mention / len(pool) if pool else None)


def quiz_markdown(result: QuizEval) -> str:
    """The quiz section as markdown."""
    lines = ["# Quiz: distractor hardness and topic precision", "",
             f"Caption questions asked: {result.questions}, made: {result.made} (4 choices; distractor "
             f"threshold {result.threshold:g}).", "",
             "| | mean CLIP image cosine to the item |", "| --- | --- |",
             f"| distractors (fair, nearest first) | {result.distractor_cosine:.3f} |",
             f"| random usable atlas items | {result.random_cosine:.3f} |", "",
             "Candidates refused by rule: " + (", ".join(f"{k} {v}" for k, v in sorted(result.refused.items()))
                                               or "none") + f"; rule breaks in the questions made: {result.rule_breaks}.",
             "", f"## Topic precision (pool floor {result.floor:g})", "",
             "| topic | pool | captions that mention it |", "| --- | --- | --- |"]
    for t in result.topics:
        share = f"{t.precision:.2f}" if t.precision is not None else f"no pool: {t.note}"
        lines.append(f"| {t.topic} | {t.pool} | {share} |")
    return "\n".join(lines) + "\n"


def write_quiz_report(result: QuizEval, out_dir: Path) -> Path:
    """quiz.md in `out_dir`; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "quiz.md"
    path.write_text(quiz_markdown(result), encoding="utf-8")
    return path
