"""A student's progress: cards due, the study streak, and quiz accuracy by modality."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .cards import due_count
from .models import Question, Review, ScoreEvent, utcnow

STREAK_LOOKBACK_DAYS = 400  # a longer streak is shown as this many days; reading all history is not worth it
UNKNOWN_MODALITY = "unknown"


@dataclass(frozen=True)
class Accuracy:
    """Right answers out of revealed answers."""

    correct: int
    total: int

    @property
    def share(self) -> float:
        """correct / total (0 when nothing was answered)."""
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True)
class Progress:
    """What `/mirage progress` shows."""

    due: int
    streak_days: int
    accuracy: dict[str, Accuracy] = field(default_factory=dict)


def streak(days: set[date], today: date) -> int:
    """Consecutive days with at least one review, ending today — or yesterday, since today is not over."""
    day = today if today in days else today - timedelta(days=1)
    count = 0
    while day in days:
        count += 1
        day -= timedelta(days=1)
    return count


async def progress(session: AsyncSession, user_id: int, *, now: datetime | None = None) -> Progress:
    """Due cards now, the streak in UTC days (quiz answers and reviews both count), accuracy by modality."""
    now = now or utcnow()
    # 1. due cards
    due = await due_count(session, user_id, now=now)
    # 2. streak: the days with any rating in the review log
    since = now - timedelta(days=STREAK_LOOKBACK_DAYS)
    times = await session.scalars(
        select(Review.reviewed_at).where(Review.user_id == user_id, Review.reviewed_at >= since)
    )
    days = {t.date() for t in times}
    # 3. accuracy over revealed quiz questions, by the question's modality
    rows = await session.execute(
        select(Question.modality, func.sum(case((ScoreEvent.correct, 1), else_=0)), func.count())
        .join(Question, Question.id == ScoreEvent.question_id)
        .where(ScoreEvent.user_id == user_id)
        .group_by(Question.modality)
    )
    accuracy = {(m or UNKNOWN_MODALITY): Accuracy(int(c or 0), int(n)) for m, c, n in rows.all()}
    return Progress(due=due, streak_days=streak(days, now.date()), accuracy=accuracy)
