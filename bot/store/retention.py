"""How long the bot keeps what people typed: their follow-up turns, their jobs (each holds the request
as sent, its query text included) and the query of each answer thread.

`expire_old_texts` runs on a schedule (bot/flows/retention.py, every few hours): turns and finished
jobs older than the retention window are deleted, and older answer threads keep their atlas hits (so a
follow-up there still works) but lose their query text. Quiz answers, review cards and scores hold no
typed text; they stay until `/mirage forget-me`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from ._sql import rowcount
from .jobs import UNFINISHED
from .models import AnswerThread, Job, Turn, utcnow

FORGOTTEN_QUERY = ""  # an answer thread's query once its text is gone (expired or forgotten)


async def expire_old_texts(session: AsyncSession, *, keep_days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete turns and finished jobs created more than `keep_days` days before `now`, and blank the query of
    answer threads created before then; returns how many rows each step touched."""
    if keep_days < 1:
        raise ValueError(f"keep_days must be at least 1; got {keep_days}")
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    # 1. Follow-up turns: the question typed and the answer given
    turns = await session.execute(
        delete(Turn).where(Turn.created_at < cutoff).execution_options(synchronize_session=False)
    )
    # 2. Jobs: the request as sent (query, prompt, question); one still waiting or running is left alone
    jobs = await session.execute(
        delete(Job)
        .where(Job.created_at < cutoff, Job.status.not_in(UNFINISHED))
        .execution_options(synchronize_session=False)
    )
    # 3. Answer threads: the query goes, the hits stay for follow-ups
    threads = await session.execute(
        update(AnswerThread)
        .where(AnswerThread.created_at < cutoff, AnswerThread.query != FORGOTTEN_QUERY)
        .values(query=FORGOTTEN_QUERY)
        .execution_options(synchronize_session=False)
    )
    session.expunge_all()  # nothing loaded before may be written back
    return {"turns": rowcount(turns), "jobs": rowcount(jobs), "thread_queries": rowcount(threads)}
