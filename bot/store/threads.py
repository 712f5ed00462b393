"""Answer threads: where the bot answered, what was asked, and the atlas items shown, in order.

A follow-up in a thread is grounded in these items, also after a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from .models import AnswerThread, utcnow


async def remember_thread(
    session: AsyncSession,
    *,
    thread_id: int,
    channel_id: int,
    guild_id: int | None,
    command: str,
    query: str,
    hit_ids: Sequence[str],
    now: datetime | None = None,
) -> AnswerThread:
    """Record (or replace) what a thread answered: the command, its query and the hits in order."""
    thread = await session.get(AnswerThread, thread_id)
    if thread is None:
        thread = AnswerThread(thread_id=thread_id, created_at=now or utcnow())
        session.add(thread)
    thread.channel_id = channel_id
    thread.guild_id = guild_id
    thread.command = command
    thread.query = query
    thread.hit_ids = list(hit_ids)
    await session.flush()
    return thread


async def get_thread(session: AsyncSession, thread_id: int) -> AnswerThread | None:
    """The thread's record, or None when the bot never answered there."""
    return await session.get(AnswerThread, thread_id)


async def extend_hits(session: AsyncSession, thread_id: int, more_ids: Sequence[str]) -> AnswerThread | None:
    """Append newly shown atlas items (e.g. "More results") after the ones already there, without repeats."""
    thread = await session.get(AnswerThread, thread_id, with_for_update=True)
    if thread is None:
        return None
    seen = set(thread.hit_ids)
    # A new list object: SQLAlchemy notices a JSON column changed only when it is reassigned.
    thread.hit_ids = [*thread.hit_ids, *(i for i in dict.fromkeys(more_ids) if i not in seen)]
    await session.flush()
    return thread
