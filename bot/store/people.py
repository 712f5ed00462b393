"""Everything the database holds about one person, counted or deleted (`/mirage forget-me`).

Rows about a user: their quiz answers, review cards and review log, score events, follow-up turns
and jobs. Quizzes they started stay for the other players, with the starter removed. Answer threads
name no user.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ._sql import rowcount
from .models import Base, Card, Job, PlayerAnswer, Quiz, Review, ScoreEvent, Turn

# Dependants before what they depend on (the review log before its cards).
USER_ROWS: tuple[type[Base], ...] = (PlayerAnswer, ScoreEvent, Review, Card, Turn, Job)


async def count_user_rows(session: AsyncSession, user_id: int) -> dict[str, int]:
    """How many rows of each table are about the user (to show before asking for confirmation)."""
    counts: dict[str, int] = {}
    for model in USER_ROWS:
        column = model.__table__.c.user_id  # type: ignore[attr-defined]
        counts[model.__tablename__] = int(
            await session.scalar(select(func.count()).select_from(model).where(column == user_id)) or 0
        )
    counts["quizzes_started"] = int(
        await session.scalar(select(func.count()).select_from(Quiz).where(Quiz.starter_id == user_id)) or 0
    )
    return counts


async def forget_user(session: AsyncSession, user_id: int) -> dict[str, int]:
    """Delete every row about the user; returns how many went, per table (and quizzes un-named)."""
    deleted: dict[str, int] = {}
    for model in USER_ROWS:
        column = model.__table__.c.user_id  # type: ignore[attr-defined]
        result = await session.execute(
            delete(model).where(column == user_id).execution_options(synchronize_session=False)
        )
        deleted[model.__tablename__] = rowcount(result)
    result = await session.execute(
        update(Quiz)
        .where(Quiz.starter_id == user_id)
        .values(starter_id=None)
        .execution_options(synchronize_session=False)
    )
    deleted["quizzes_started"] = rowcount(result)
    session.expunge_all()  # nothing loaded before may be written back
    return deleted
