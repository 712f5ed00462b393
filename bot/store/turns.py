"""Follow-up turns: a question asked in an answer thread, the answer given, and what it cited."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Turn, utcnow


async def add_turn(
    session: AsyncSession,
    *,
    thread_id: int,
    user_id: int,
    question: str,
    answer: str,
    cited_ids: Sequence[str],
    grounded: bool,
    now: datetime | None = None,
) -> Turn:
    """Record one follow-up and its answer (the thread must be known: see threads.remember_thread)."""
    turn = Turn(
        thread_id=thread_id,
        user_id=user_id,
        question=question,
        answer=answer,
        cited_ids=list(cited_ids),
        grounded=grounded,
        created_at=now or utcnow(),
    )
    session.add(turn)
    await session.flush()
    return turn


async def thread_turns(session: AsyncSession, thread_id: int, *, last: int | None = None) -> list[Turn]:
    """A thread's follow-ups, oldest first (only the `last` ones when given)."""
    query = select(Turn).where(Turn.thread_id == thread_id).order_by(Turn.created_at.desc(), Turn.id.desc())
    if last is not None:
        query = query.limit(last)
    return list(reversed((await session.scalars(query)).all()))
