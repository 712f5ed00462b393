"""Settle a question at its reveal, in one unit of work: close it, score every answer, rate every card.

Whoever reveals first (the timer, "everyone answered", or the restart sweep) settles; a second caller
gets None, so nothing is counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fsrs import Scheduler
from sqlalchemy.ext.asyncio import AsyncSession

from . import answers, cards, quizzes, scores
from .models import Question, utcnow


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
    # 2. score each locked-in answer and rate the player's card from the outcome
    results: list[PlayerResult] = []
    for answer in await answers.question_answers(session, question_id):
        if answer.choice is None:  # took a hint, never answered: nothing to score or schedule
            continue
        correct = answer.choice == question.answer_index
        await scores.award(
            session,
            guild_id=quiz.guild_id,
            quiz_id=quiz.id,
            question_id=question.id,
            user_id=answer.user_id,
            correct=correct,
            hint_level=answer.hint_level,
            now=now,
        )
        card = await cards.review(
            session,
            user_id=answer.user_id,
            atlas_id=question.atlas_id,
            modality=question.modality,
            rating=cards.rating_for(correct, answer.hint_level),
            source="quiz",
            now=now,
            scheduler=scheduler,
        )
        points = scores.points_for(correct, answer.hint_level)
        results.append(
            PlayerResult(answer.user_id, answer.choice, correct, answer.hint_level, points, card.id)
        )
    # 3. the running scoreboard
    return Settlement(question, results, await scores.quiz_scoreboard(session, quiz.id))
