"""Everything the database holds about one person, counted or deleted (`/mirage forget-me`).

Rows about a user: their quiz answers, review cards and review log, score events, follow-up turns
and jobs (each job holds the request as sent, its query text included). Quizzes they started stay for
the other players, with the starter removed; study sets they made stay their servers', without an owner.
Answer threads name no user, but each holds the query text of the request that opened it: the threads
the user's jobs answered in keep their atlas hits (for the others' follow-ups there) and lose that text
(`thread_queries`).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ._sql import rowcount
from .models import AnswerThread, Base, Card, Job, PlayerAnswer, Quiz, Report, Review, ScoreEvent, Turn
from .retention import FORGOTTEN_QUERY
from .sets import count_owned, disown

# Dependants before what they depend on (the review log before its cards).
USER_ROWS: tuple[type[Base], ...] = (PlayerAnswer, ScoreEvent, Review, Card, Turn, Job, Report)


def _their_thread_queries(user_id: int) -> ColumnElement[bool]:
    """Answer threads one of the user's jobs answered in, that still hold a query text."""
    asked = select(Job.thread_id).where(Job.user_id == user_id, Job.thread_id.is_not(None))
    return AnswerThread.thread_id.in_(asked) & (AnswerThread.query != FORGOTTEN_QUERY)


async def count_user_rows(session: AsyncSession, user_id: int) -> dict[str, int]:
    """How many rows of each table are about the user (to show before asking for confirmation)."""
    counts: dict[str, int] = {}
    for model in USER_ROWS:
        column = model.__table__.c.user_id
        counts[model.__tablename__] = int(
            await session.scalar(select(func.count()).select_from(model).where(column == user_id)) or 0
        )
    counts["thread_queries"] = int(
        await session.scalar(select(func.count()).select_from(AnswerThread).where(_their_thread_queries(user_id)))
        or 0
    )
    counts["quizzes_started"] = int(
        await session.scalar(select(func.count()).select_from(Quiz).where(Quiz.starter_id == user_id)) or 0
    )
    counts["sets_owned"] = await count_owned(session, user_id)
    return counts


async def forget_user(session: AsyncSession, user_id: int) -> dict[str, int]:
    """Delete every row about the user and every query text they typed; returns how many went, per table
    (and thread queries blanked, quizzes un-named)."""
    deleted: dict[str, int] = {}
    # 1. The query texts of the threads their jobs answered in (read through the jobs, so before those go)
    blanked = await session.execute(
        update(AnswerThread)
        .where(_their_thread_queries(user_id))
        .values(query=FORGOTTEN_QUERY)
        .execution_options(synchronize_session=False)
    )
    # 2. Every row that names them
    for model in USER_ROWS:
        column = model.__table__.c.user_id
        result = await session.execute(
            delete(model).where(column == user_id).execution_options(synchronize_session=False)
        )
        deleted[model.__tablename__] = rowcount(result)
    deleted["thread_queries"] = rowcount(blanked)
    # 3. Quizzes they started stay for the other players, without their id
    result = await session.execute(
        update(Quiz)
        .where(Quiz.starter_id == user_id)
        .values(starter_id=None)
        .execution_options(synchronize_session=False)
    )
    deleted["quizzes_started"] = rowcount(result)
    # 4. Study sets they made stay their servers', without their id (only moderators may change them then)
    deleted["sets_owned"] = await disown(session, user_id)
    session.expunge_all()  # nothing loaded before may be written back
    return deleted
