"""What the bot keeps in its database while answering: jobs (for their buttons after a restart), answer
threads (their atlas hits, for follow-ups) and follow-up turns (read back as the history a follow-up
sends the engine, so a thread remembers its conversation across restarts).

Writing a job or a thread is best effort: an answer is never withheld because the database is down
(the operator sees a warning). Reading a thread for a follow-up is not: `DatabaseUnavailable` reaches
the flow, which tells the user to try again and loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from engine.contract import ASK_HISTORY_ANSWER_MAX_CHARS, ASK_QUESTION_MAX_CHARS, AskTurn

from ..queue import Job
from ..store import DatabaseUnavailable, jobs, threads, turns
from ..store.database import WRITE_DEADLINE_S
from ..store.models import AnswerThread
from ..threads import is_thread
from .context import Context

log = logging.getLogger(__name__)

# Reads made before a click is acknowledged must end well within Discord's 3 s.
LOOKUP_TIMEOUT_S = 2.0


# A flow waits this long for its write; a slower one (the database locked under a burst) goes on in the
# background, queued in order and retried for minutes (Database.write), while the answer goes out.
WRITE_WAIT_S = 2.0


async def _best_effort(ctx: Context, write: Callable[[AsyncSession], Awaitable[object]], lost: str) -> None:
    """Queue one write to the database's batching writer (retried while the database is locked or down,
    for minutes); warn that `lost` was not kept only when it finally gave up."""
    if ctx.db is None:
        return
    pending = asyncio.ensure_future(ctx.db.write(write))
    pending.add_done_callback(lambda done: _report_lost(done, lost))
    # while the database is known to be unavailable, do not hold the answer up at all
    await asyncio.wait({pending}, timeout=0 if ctx.db.writes_failing else WRITE_WAIT_S)
    if not pending.done() and ctx.db.writes_failing:
        minutes = WRITE_DEADLINE_S / 60
        log.warning("%s yet: the database is unavailable (retrying for up to %g min)", lost, minutes)


def _report_lost(done: asyncio.Future[object], lost: str) -> None:
    if done.cancelled():
        return
    error = done.exception()
    if isinstance(error, DatabaseUnavailable):
        log.warning("%s: the database is unavailable", lost)
    elif error is not None:
        log.error("%s: %s", lost, error, exc_info=error)


async def save_job(
    ctx: Context, job: Job, kind: str, request: Mapping[str, Any], *, message_id: int | None, thread_id: int | None
) -> None:
    """Record a new job (best effort)."""
    await _best_effort(
        ctx,
        lambda session: jobs.save_job(
            session, job_id=job.id, user_id=job.user_id, kind=kind, request=dict(request),
            message_id=message_id, thread_id=thread_id,
        ),
        f"job {job.id} not recorded",
    )


async def finish_job(ctx: Context, job: Job, outcome: str) -> None:
    """Record how a job ended: done, failed or cancelled (best effort)."""
    await _best_effort(
        ctx, lambda session: jobs.update_job(session, job.id, status=outcome), f"job {job.id} outcome not recorded"
    )


async def job_status(ctx: Context, job_id: str) -> str | None:
    """A job's recorded status (e.g. `interrupted` by a restart), or None when unknown. Raises
    `DatabaseUnavailable` (also when it does not answer within `LOOKUP_TIMEOUT_S`)."""
    if ctx.db is None:
        return None
    async with _lookup(), ctx.db.session() as session:
        job = await jobs.get_job(session, job_id)
        return job.status if job is not None else None


async def remember_thread(ctx: Context, target: Any, *, command: str, query: str, hit_ids: Sequence[str]) -> None:
    """Remember what an answer thread showed, so follow-ups there are grounded in it (best effort; only
    for a real thread: an answer in a channel has no thread to follow up in)."""
    if not is_thread(target) or not hit_ids:
        return
    guild = getattr(target, "guild", None)
    await _best_effort(
        ctx,
        lambda session: threads.remember_thread(
            session,
            thread_id=target.id,
            channel_id=getattr(target, "parent_id", None) or target.id,
            guild_id=getattr(guild, "id", None),
            command=command,
            query=query,
            hit_ids=list(dict.fromkeys(hit_ids)),
        ),
        f"thread {target.id} not remembered",
    )


async def extend_thread(ctx: Context, target: Any, hit_ids: Sequence[str]) -> None:
    """Add newly shown hits (e.g. More results) to a remembered thread (best effort)."""
    if not is_thread(target) or not hit_ids:
        return
    await _best_effort(
        ctx, lambda session: threads.extend_hits(session, target.id, hit_ids), f"thread {target.id} not extended"
    )


async def thread_context(ctx: Context, thread_id: int) -> AnswerThread | None:
    """The remembered thread (its hits), or None. Raises `DatabaseUnavailable` (also when it does not
    answer within `LOOKUP_TIMEOUT_S`)."""
    if ctx.db is None:
        return None
    async with _lookup(), ctx.db.session() as session:
        return await threads.get_thread(session, thread_id)


async def thread_history(ctx: Context, thread_id: int, *, last: int) -> list[AskTurn]:
    """The thread's `last` follow-ups, oldest first, as the engine takes them (each cut to the contract's
    limits). Raises `DatabaseUnavailable` (also when it does not answer within `LOOKUP_TIMEOUT_S`)."""
    if ctx.db is None or last < 1:
        return []
    async with _lookup(), ctx.db.session() as session:
        rows = await turns.thread_turns(session, thread_id, last=last)
    return [
        AskTurn(question=row.question[:ASK_QUESTION_MAX_CHARS], answer=row.answer[:ASK_HISTORY_ANSWER_MAX_CHARS])
        for row in rows
        if row.question.strip() and row.answer.strip()
    ]


@asynccontextmanager
async def _lookup() -> AsyncIterator[None]:
    """A deadline for a read made before the click is acknowledged; a slow database counts as down."""
    try:
        async with asyncio.timeout(LOOKUP_TIMEOUT_S):
            yield
    except TimeoutError as slow:
        raise DatabaseUnavailable("the database did not answer in time") from slow


async def add_turn(
    ctx: Context, thread_id: int, user_id: int, *, question: str, answer: str, cited_ids: Sequence[str], grounded: bool
) -> None:
    """Record a follow-up and its answer (best effort: the answer is already in the thread)."""
    await _best_effort(
        ctx,
        lambda session: turns.add_turn(
            session, thread_id=thread_id, user_id=user_id, question=question, answer=answer,
            cited_ids=list(cited_ids), grounded=grounded,
        ),
        f"follow-up in thread {thread_id} not recorded",
    )
