"""Fair questions, as pure rules: what a quiz may be asked for, the reasons a student may report a question
for, when reports retire an item from a server's quizzes, and what hints cost.

No Discord and no database here: the store counts reports (`bot.store.reports`), the flows ask.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from engine.contract import CUI_PATTERN, QUIZ_POINTS_BY_HINTS, QUIZ_TOPIC_MAX_CHARS, quiz_points

STUDENT_REPORTS_TO_RETIRE = 2  # distinct students; one report by a moderator is enough
CUI = re.compile(CUI_PATTERN)
DM_SERVER = 0  # the "server" reports made in a direct-message quiz are kept under


class ReportReason(enum.StrEnum):
    """Why a question is wrong or unfair (the store keeps the value)."""

    WRONG_ANSWER = "wrong"
    TWO_ANSWERS = "two_fit"
    BAD_IMAGE = "image"
    GIVES_AWAY = "gives_away"
    OTHER = "other"

    @property
    def label(self) -> str:
        """What the reason's button says."""
        return REASON_LABELS[self]


REASON_LABELS: dict[ReportReason, str] = {
    ReportReason.WRONG_ANSWER: "The marked answer is wrong",
    ReportReason.TWO_ANSWERS: "More than one choice fits",
    ReportReason.BAD_IMAGE: "Image unreadable or unsuitable",
    ReportReason.GIVES_AWAY: "The question gives the answer away",
    ReportReason.OTHER: "Something else is unfair",
}


@dataclass(frozen=True)
class QuizPool:
    """Which atlas items a quiz draws from: a modality filter, and at most one of a topic or a concept."""

    kind: str = "caption"
    modality: str | None = None
    topic: str | None = None
    concept: str | None = None


def pool_problem(pool: QuizPool) -> str | None:
    """Why the engine would refuse this pool, in words for the student (None: it may be asked)."""
    if pool.kind == "modality" and pool.modality is not None:
        return (
            f"`kind:modality` with `modality:{pool.modality}` would always have the answer {pool.modality}. "
            "Leave out `modality:` for a modality quiz, or keep it with `kind:caption`."
        )
    if pool.topic is not None and pool.concept is not None:
        return "Give either `topic:` or `concept:`, not both."
    if pool.topic is not None:
        topic = pool.topic.strip()
        if not topic:
            return "`topic:` needs some words, e.g. `topic:pneumothorax`."
        if len(topic) > QUIZ_TOPIC_MAX_CHARS:
            return f"`topic:` can be at most {QUIZ_TOPIC_MAX_CHARS} characters (it has {len(topic)})."
    if pool.concept is not None and not CUI.fullmatch(pool.concept.strip().upper()):
        return (
            f"`concept:` must be a UMLS concept id: a C and seven digits, e.g. `C0032326` (pneumothorax); "
            f"`{pool.concept[:40]}` is not one."
        )
    return None


def normalised(pool: QuizPool) -> QuizPool:
    """The pool as the engine takes it: topic stripped, CUI in capitals."""
    return QuizPool(
        pool.kind,
        pool.modality,
        pool.topic.strip() if pool.topic is not None else None,
        pool.concept.strip().upper() if pool.concept is not None else None,
    )


def retires(moderator_reports: int, student_reports: int) -> bool:
    """Whether an item is no longer asked in a server: one moderator's report, or two students'."""
    return moderator_reports > 0 or student_reports >= STUDENT_REPORTS_TO_RETIRE


def points_ladder(points_by_hints: Sequence[int] | None, rungs: int) -> list[int]:
    """Points for a right answer after 0 … `rungs` hints: the engine's list for this question when it sent
    one, else the contract's rule (`engine.contract.quiz_points`); the one source of points."""
    if points_by_hints:
        return [int(p) for p in points_by_hints]
    rungs = rungs if rungs > 0 else len(QUIZ_POINTS_BY_HINTS) - 1
    return [quiz_points(True, taken, rungs) for taken in range(rungs + 1)]


def points(correct: bool, hints_taken: int, ladder: Sequence[int]) -> int:
    """Points for one answer: 0 when wrong, else the ladder's entry for the hints taken (its last once
    every rung was taken)."""
    if not correct:
        return quiz_points(False, hints_taken)
    if not ladder:
        return quiz_points(True, hints_taken)
    return int(ladder[min(max(hints_taken, 0), len(ladder) - 1)])
