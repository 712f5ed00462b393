"""Settle a question at its reveal, in one unit of work: close it, score every answer, rate every card.

Whoever reveals first (the timer, "everyone answered", or the restart sweep) settles; a second caller
gets None, so nothing is counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fsrs import Scheduler
from sqlalchemy.ext.asyncio import AsyncSession

from bot.rules.quiz_fair import points_ladder

from . import answers, cards, quizzes, scores
from .models import PlayerAnswer, Question, utcnow


@dataclass(frozen=True)
class PlayerResult:
    """One player's outcome on a revealed question."""

    user_id: int
    choice: int
    correct: bool
    hint_level: int
    points: int
    card_id: int  # their review card for this item (to re-rate)


@dataclass(frozen=True)
class Settlement:
    """What the reveal shows: the question, each player's outcome, the quiz's scoreboard after it."""

    question: Question
    results: list[PlayerResult]
    scoreboard: list[scores.Standing]


def question_points(question: Question) -> list[int]:
    """The question's points by hints taken: the engine's `points_by_hints` kept in its row, else the
    contract's rule for its ladder (`bot.rules.quiz_fair.points_ladder`)."""
    payload = question.payload or {}
    return points_ladder(payload.get("points_by_hints"), len(payload.get("hints") or []))


async def settle_question(
    session: AsyncSession,
    question_id: int,
    *,
    now: datetime | None = None,
    scheduler: Scheduler | None = None,
) -> Settlement | None:
    """Reveal, score and schedule one question; None when it was already revealed (by someone else)."""
    now = now or utcnow()
    # 1. close it (only one caller wins)
    if not await quizzes.reveal_question(session, question_id, now):
        return None
    question = await quizzes.get_question(session, question_id)
    quiz = await quizzes.get_quiz(session, question.quiz_id) if question else None
    if question is None or quiz is None:
        return None
    # 2. score each locked-in answer and rate the player's card from the outcome, every player at once
    # (a hint taken but never answered has nothing to score or schedule)
    answered = [a for a in await answers.question_answers(session, question_id) if a.choice is not None]
    outcomes = [(a.user_id, a.choice == question.answer_index, a.hint_level) for a in answered]
    ladder = question_points(question)
    await scores.award(
        session, guild_id=quiz.guild_id, quiz_id=quiz.id, question_id=question.id, outcomes=outcomes, now=now,
        ladder=ladder,
    )  # fmt: skip
    reviewed = await cards.review_all(
        session,
        ratings={user_id: cards.rating_for(correct, hints) for user_id, correct, hints in outcomes},
        atlas_id=question.atlas_id,
        modality=question.modality,
        source="quiz",
        now=now,
        scheduler=scheduler,
    )
    results = [
        PlayerResult(
            answer.user_id, _locked_choice(answer), correct, hints, scores.points_for(correct, hints, ladder), reviewed[answer.user_id].id
        )
        for answer, (_, correct, hints) in zip(answered, outcomes, strict=True)
    ]
    # 3. the running scoreboard
    return Settlement(question, results, await scores.quiz_scoreboard(session, quiz.id))


def _locked_choice(answer: PlayerAnswer) -> int:
    """The choice of an answer that settle kept (only locked-in ones reach the results)."""
    if answer.choice is None:
        raise ValueError(f"answer of user {answer.user_id} has no choice to settle")
    return answer.choice
