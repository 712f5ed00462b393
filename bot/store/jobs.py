"""Jobs: requests sent to the engine, kept so their buttons (Cancel, More results, New seed, Use as
query) still know what they belong to after a bot restart."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ._sql import rowcount
from .models import ID_LEN, Job, utcnow

JOB_STATUSES = ("waiting", "running", "done", "failed", "cancelled", "interrupted")
UNFINISHED = ("waiting", "running")


def _check_status(status: str) -> None:
    if status not in JOB_STATUSES:
        raise ValueError(f"job status must be one of {', '.join(JOB_STATUSES)}; got {status!r}")


async def save_job(
    session: AsyncSession,
    *,
    job_id: str,
    user_id: int,
    kind: str,
    request: Mapping[str, Any],
    status: str = "waiting",
    message_id: int | None = None,
    thread_id: int | None = None,
    now: datetime | None = None,
) -> Job:
    """Record a new job: who asked, what kind, the request as sent to the engine (JSON)."""
    _check_status(status)
    if not job_id or len(job_id) > ID_LEN:
        raise ValueError(f"job_id must be 1–{ID_LEN} characters; got {job_id!r}")
    now = now or utcnow()
    job = Job(
        id=job_id,
        user_id=user_id,
        kind=kind,
        request=dict(request),
        status=status,
        message_id=message_id,
        thread_id=thread_id,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    await session.flush()
    return job


async def update_job(
    session: AsyncSession,
    job_id: str,
    *,
    status: str | None = None,
    message_id: int | None = None,
    thread_id: int | None = None,
    now: datetime | None = None,
) -> Job | None:
    """Change a job's status and/or where it answers; None when there is no such job."""
    job = await session.get(Job, job_id, with_for_update=True)
    if job is None:
        return None
    if status is not None:
        _check_status(status)
        job.status = status
    if message_id is not None:
        job.message_id = message_id
    if thread_id is not None:
        job.thread_id = thread_id
    job.updated_at = now or utcnow()
    await session.flush()
    return job


async def get_job(session: AsyncSession, job_id: str) -> Job | None:
    """The job, or None."""
    return await session.get(Job, job_id)


async def jobs_of(session: AsyncSession, user_id: int, *, unfinished_only: bool = False) -> list[Job]:
    """A user's jobs, newest first."""
    query = select(Job).where(Job.user_id == user_id)
    if unfinished_only:
        query = query.where(Job.status.in_(UNFINISHED))
    return list((await session.scalars(query.order_by(Job.created_at.desc(), Job.id))).all())


async def interrupt(session: AsyncSession, job_ids: list[str], now: datetime | None = None) -> int:
    """Mark these jobs `interrupted` where they are still waiting or running (this process is stopping and
    could not record their end itself); returns how many changed."""
    if not job_ids:
        return 0
    result = await session.execute(
        update(Job)
        .where(Job.id.in_(job_ids), Job.status.in_(UNFINISHED))
        .values(status="interrupted", updated_at=now or utcnow())
    )
    return rowcount(result)


async def interrupt_unfinished(session: AsyncSession, now: datetime | None = None) -> list[Job]:
    """At start: jobs still waiting or running were cut by the restart; mark them `interrupted`.

    Returns them so the bot can say so in their threads.
    """
    cut = list((await session.scalars(select(Job).where(Job.status.in_(UNFINISHED)).order_by(Job.id))).all())
    if cut:
        # The session's own copies of these rows are updated too (SQLAlchemy's synchronize_session),
        # so they need no reading back.
        await session.execute(
            update(Job)
            .where(Job.id.in_([job.id for job in cut]))
            .values(status="interrupted", updated_at=now or utcnow())
            .execution_options(synchronize_session="evaluate")
        )
    return cut
