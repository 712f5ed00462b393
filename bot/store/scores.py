"""Scores: points per revealed question, the quiz's running scoreboard, and the server's leaderboards.

Each (question, player) earns at most one score event (a unique pair), so settling a question twice
never counts anyone twice. Leaderboards are queries over those events: all-time, or since Monday
00:00 UTC for the weekly one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.rules.quiz_fair import points

from ._sql import insert
from .models import ScoreEvent, utcnow

LEADERBOARD_SIZE = 10


def points_for(correct: bool, hint_level: int, ladder: Sequence[int] = ()) -> int:
    """Points for one answer: the question's ladder (`points_by_hints` from the engine) at the hints taken
    when right, 0 when wrong; without a ladder, the contract's `quiz_points` (one rule: bot.rules.quiz_fair)."""
    return points(correct, hint_level, ladder)


def week_start(now: datetime | None = None) -> datetime:
    """Monday 00:00 UTC of the week containing `now` (the weekly leaderboard's start)."""
    now = now or utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=midnight.weekday())


@dataclass(frozen=True)
class Standing:
    """One line of a scoreboard."""

    user_id: int
    points: int
    correct: int
    answered: int


async def award(
    session: AsyncSession,
    *,
    guild_id: int | None,
    quiz_id: int,
    question_id: int,
    outcomes: Sequence[tuple[int, bool, int]],
    now: datetime | None = None,
    ladder: Sequence[int] = (),
) -> None:
    """Record each player's points for a question, one (user id, correct, hint level) per player, in one
    statement, by the question's points `ladder`; a player who already had points for it keeps them."""
    if not outcomes:
        return
    now = now or utcnow()
    rows = [
        {
            "guild_id": guild_id,
            "quiz_id": quiz_id,
            "question_id": question_id,
            "user_id": user_id,
            "points": points_for(correct, hint_level, ladder),
            "correct": correct,
            "awarded_at": now,
        }
        for user_id, correct, hint_level in outcomes
    ]
    stmt = insert(session, ScoreEvent)
    await session.execute(
        stmt.on_conflict_do_nothing(index_elements=[ScoreEvent.question_id, ScoreEvent.user_id]), rows
    )


def _standings(*conditions: ColumnElement[bool], limit: int | None) -> Select[int, int, Any, int]:
    points = func.sum(ScoreEvent.points)
    correct = func.sum(case((ScoreEvent.correct, 1), else_=0))
    query = (
        select(ScoreEvent.user_id, points, correct, func.count())
        .where(*conditions)
        .group_by(ScoreEvent.user_id)
        .order_by(points.desc(), correct.desc(), ScoreEvent.user_id)
    )
    return query.limit(limit) if limit is not None else query


async def _run(session: AsyncSession, query: Select[int, int, Any, int]) -> list[Standing]:
    rows = (await session.execute(query)).all()
    return [Standing(int(u), int(p or 0), int(c or 0), int(n)) for u, p, c, n in rows]


async def leaderboard(
    session: AsyncSession, guild_id: int, *, since: datetime | None = None, limit: int = LEADERBOARD_SIZE
) -> list[Standing]:
    """A server's top players by points (all-time, or since `since`, e.g. `week_start()`)."""
    conditions = [ScoreEvent.guild_id == guild_id]
    if since is not None:
        conditions.append(ScoreEvent.awarded_at >= since)
    return await _run(session, _standings(*conditions, limit=limit))


async def quiz_scoreboard(session: AsyncSession, quiz_id: int) -> list[Standing]:
    """Everyone's points so far in one quiz, best first."""
    return await _run(session, _standings(ScoreEvent.quiz_id == quiz_id, limit=None))
