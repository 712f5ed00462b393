"""Quizzes and their questions: start (one running per thread), add a question, reveal, finish.

The state lives here, not in memory, so a quiz survives a bot restart: `running_quizzes` and
`open_questions` tell the bot what to resume.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, get_args

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.rules.quiz import QuestionState, QuizState
from engine.contract import QuizKind

from ._sql import rowcount
from .errors import QuizAlreadyRunning
from .models import Question, Quiz, utcnow

QUIZ_KINDS: tuple[str, ...] = get_args(QuizKind)
QUIZ_END_STATES = (QuizState.FINISHED, QuizState.STOPPED)


async def start_quiz(
    session: AsyncSession,
    *,
    thread_id: int,
    guild_id: int | None,
    starter_id: int,
    kind: str,
    modality: str | None,
    question_count: int,
    now: datetime | None = None,
    item_ids: list[str] | None = None,
    topic: str | None = None,
    concept: str | None = None,
) -> Quiz:
    """Open a running quiz in a thread; `QuizAlreadyRunning` (with its id) when one already runs there.
    `item_ids`: a study set's atlas ids, asked in this order (one question each); `topic` or `concept`
    (a UMLS CUI): the engine's pool for every question."""
    if kind not in QUIZ_KINDS:
        raise ValueError(f"kind must be one of {', '.join(QUIZ_KINDS)}; got {kind!r}")
    if question_count < 1:
        raise ValueError(f"question_count must be ≥ 1; got {question_count}")
    running = await running_quiz(session, thread_id)
    if running is not None:
        raise QuizAlreadyRunning(thread_id, running.id)
    quiz = Quiz(
        thread_id=thread_id,
        guild_id=guild_id,
        starter_id=starter_id,
        kind=kind,
        modality=modality,
        question_count=question_count,
        item_ids=list(item_ids) if item_ids is not None else None,
        topic=topic,
        concept=concept,
        state=QuizState.RUNNING,
        created_at=now or utcnow(),
    )
    # Two starts at once both pass the check above; the partial unique index lets only one in.
    try:
        async with session.begin_nested():
            session.add(quiz)
    except IntegrityError:
        running = await running_quiz(session, thread_id)
        raise QuizAlreadyRunning(thread_id, running.id if running else 0) from None
    return quiz


async def get_quiz(session: AsyncSession, quiz_id: int) -> Quiz | None:
    """The quiz, or None."""
    return await session.get(Quiz, quiz_id)


async def running_quiz(session: AsyncSession, thread_id: int) -> Quiz | None:
    """The quiz running in a thread, if any."""
    return await session.scalar(select(Quiz).where(Quiz.thread_id == thread_id, Quiz.state == QuizState.RUNNING))


async def running_quizzes(session: AsyncSession) -> list[Quiz]:
    """Every running quiz (to resume after a restart), oldest first."""
    return list((await session.scalars(select(Quiz).where(Quiz.state == QuizState.RUNNING).order_by(Quiz.id))).all())


async def add_question(
    session: AsyncSession,
    quiz_id: int,
    *,
    position: int,
    atlas_id: str,
    modality: str | None,
    choices: Sequence[Mapping[str, Any]],
    answer_index: int,
    deadline: datetime | None,
    payload: Mapping[str, Any] | None = None,
) -> Question:
    """Put the next question of a quiz (open for answers until `deadline`); the quiz's timer follows it.

    `payload` is what the question asked (hint ladder and item, see `bot.flows.quiz.payload`), kept so a
    restarted bot can give hints and reveal without the engine.
    """
    if not 0 <= answer_index < len(choices):
        raise ValueError(f"answer_index must be 0–{len(choices) - 1}; got {answer_index}")
    quiz = await session.get(Quiz, quiz_id, with_for_update=True)
    if quiz is None or quiz.state != QuizState.RUNNING:
        raise ValueError(f"quiz {quiz_id} is not running")
    question = Question(
        quiz_id=quiz_id,
        position=position,
        atlas_id=atlas_id,
        modality=modality,
        choices=[dict(c) for c in choices],
        answer_index=answer_index,
        state=QuestionState.OPEN,
        deadline=deadline,
        payload=dict(payload) if payload is not None else None,
    )
    session.add(question)
    quiz.deadline = deadline
    await session.flush()
    return question


async def get_question(session: AsyncSession, question_id: int) -> Question | None:
    """The question, or None."""
    return await session.get(Question, question_id)


async def quiz_questions(session: AsyncSession, quiz_id: int) -> list[Question]:
    """A quiz's questions in order."""
    query = select(Question).where(Question.quiz_id == quiz_id).order_by(Question.position)
    return list((await session.scalars(query)).all())


async def open_questions(session: AsyncSession) -> list[Question]:
    """Questions still open for answers (after a restart: resume their timers or reveal them)."""
    query = select(Question).where(Question.state == QuestionState.OPEN).order_by(Question.deadline, Question.id)
    return list((await session.scalars(query)).all())


async def reveal_question(session: AsyncSession, question_id: int, now: datetime | None = None) -> bool:
    """Close a question for answers. True for the one caller that closed it (timer and "all answered"
    may race); False when it was already revealed."""
    result = await session.execute(
        update(Question)
        .where(Question.id == question_id, Question.state == QuestionState.OPEN)
        .values(state=QuestionState.REVEALED, revealed_at=now or utcnow())
    )
    return rowcount(result) == 1


async def finish_quiz(
    session: AsyncSession, quiz_id: int, *, state: QuizState = QuizState.FINISHED, now: datetime | None = None
) -> bool:
    """End a running quiz (`finished` after its last question, `stopped` by the starter or a moderator).

    Its open questions are closed too. False when it was not running.
    """
    if state not in QUIZ_END_STATES:
        raise ValueError(f"state must be one of {', '.join(QUIZ_END_STATES)}; got {state!r}")
    now = now or utcnow()
    result = await session.execute(
        update(Quiz)
        .where(Quiz.id == quiz_id, Quiz.state == QuizState.RUNNING)
        .values(state=state, finished_at=now, deadline=None)
    )
    if rowcount(result) != 1:
        return False
    await session.execute(
        update(Question)
        .where(Question.quiz_id == quiz_id, Question.state == QuestionState.OPEN)
        .values(state=QuestionState.REVEALED, revealed_at=now)
    )
    return True
