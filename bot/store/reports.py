"""Reported questions: a student flags a question as wrong or unfair; an item reported by a moderator or
by two students is retired from that server's quizzes (`bot.rules.quiz_fair.retires`).

One report per (server, atlas item, student): a second click by the same student changes nothing and
says what they reported before. Quizzes in direct messages keep their reports under server 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.rules.quiz_fair import DM_SERVER, STUDENT_REPORTS_TO_RETIRE, ReportReason, retires

from ._sql import insert
from .models import Report, utcnow

REPORTS_LISTED = 20


@dataclass(frozen=True)
class Reported:
    """The outcome of one report click."""

    created: bool  # False: this student had reported the item already (nothing changed)
    reason: ReportReason  # the reason on record (the earlier one when not created)
    retired: bool  # the item is no longer asked in this server


@dataclass(frozen=True)
class ReportedItem:
    """One reported atlas item of a server, for `/mirage reports`."""

    atlas_id: str
    students: int
    moderators: int
    reasons: dict[ReportReason, int]
    last_question_id: int
    last_at: datetime

    @property
    def retired(self) -> bool:
        """No longer asked in this server."""
        return retires(self.moderators, self.students)


def server_key(guild_id: int | None) -> int:
    """The server a report is kept under (DMs: 0)."""
    return DM_SERVER if guild_id is None else guild_id


async def add_report(
    session: AsyncSession,
    *,
    guild_id: int | None,
    atlas_id: str,
    question_id: int,
    user_id: int,
    reason: ReportReason,
    is_moderator: bool,
    now: datetime | None = None,
) -> Reported:
    """Record one report (idempotent per server, item and student) and say whether the item is retired."""
    server = server_key(guild_id)
    row = {
        "guild_id": server, "atlas_id": atlas_id, "question_id": question_id, "user_id": user_id,
        "reason": ReportReason(reason).value, "is_moderator": is_moderator, "created_at": now or utcnow(),
    }  # fmt: skip
    result = await session.execute(
        insert(session, Report)
        .on_conflict_do_nothing(index_elements=[Report.guild_id, Report.atlas_id, Report.user_id])
        .returning(Report.id),
        [row],
    )
    created = result.first() is not None
    earlier = await session.scalar(
        select(Report.reason).where(Report.guild_id == server, Report.atlas_id == atlas_id, Report.user_id == user_id)
    )
    return Reported(created, ReportReason(earlier or reason), await is_retired(session, guild_id, atlas_id))


def _tally(*conditions: ColumnElement[bool]) -> Select[str, Any, Any]:
    """Per atlas item: its moderators' and its students' reports."""
    moderators = func.sum(case((Report.is_moderator, 1), else_=0))
    students = func.sum(case((Report.is_moderator, 0), else_=1))
    return select(Report.atlas_id, moderators, students).where(*conditions).group_by(Report.atlas_id)


async def is_retired(session: AsyncSession, guild_id: int | None, atlas_id: str) -> bool:
    """Whether reports retired this item in this server."""
    row = (await session.execute(_tally(Report.guild_id == server_key(guild_id), Report.atlas_id == atlas_id))).first()
    return row is not None and retires(int(row[1] or 0), int(row[2] or 0))


async def retired_items(session: AsyncSession, guild_id: int | None) -> set[str]:
    """The atlas items this server's quizzes no longer ask."""
    moderators = func.sum(case((Report.is_moderator, 1), else_=0))
    students = func.sum(case((Report.is_moderator, 0), else_=1))
    query = (
        select(Report.atlas_id)
        .where(Report.guild_id == server_key(guild_id))
        .group_by(Report.atlas_id)
        .having((moderators > 0) | (students >= STUDENT_REPORTS_TO_RETIRE))
    )
    return set((await session.scalars(query)).all())


async def server_reports(
    session: AsyncSession, guild_id: int | None, *, limit: int = REPORTS_LISTED
) -> tuple[list[ReportedItem], int]:
    """A server's reported items, newest report first (at most `limit`), and how many items there are."""
    rows = (
        await session.execute(
            select(Report).where(Report.guild_id == server_key(guild_id)).order_by(Report.created_at.desc(), Report.id.desc())
        )
    ).scalars().all()
    by_item: dict[str, list[Report]] = {}
    for report in rows:
        by_item.setdefault(report.atlas_id, []).append(report)
    items = []
    for atlas_id, reports in list(by_item.items())[:limit]:
        reasons: dict[ReportReason, int] = {}
        for report in reports:
            reasons[ReportReason(report.reason)] = reasons.get(ReportReason(report.reason), 0) + 1
        moderators = sum(1 for r in reports if r.is_moderator)
        items.append(
            ReportedItem(
                atlas_id, len(reports) - moderators, moderators, reasons, reports[0].question_id, reports[0].created_at
            )
        )
    return items, len(by_item)
