"""A student's progress: cards due, the study streak, quiz accuracy by modality, and the retention FSRS
predicts by modality (the mean probability, from each card's stability and last review, that the
student would recall it now)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .cards import default_scheduler, due_count, to_fsrs
from .models import Card, PlayerAnswer, Question, Review, ScoreEvent, utcnow

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
    retention: dict[str, Retention] = field(default_factory=dict)


@dataclass(frozen=True)
class Retention:
    """FSRS's predicted recall now, averaged over one modality's cards that have been rated."""

    mean: float
    cards: int


async def retention(
    session: AsyncSession, user_id: int, *, now: datetime | None = None
) -> dict[str, Retention]:
    """Per modality, the mean retrievability `fsrs.Scheduler` gives the student's rated cards now."""
    now = now or utcnow()
    scheduler = default_scheduler()
    by_modality: dict[str, list[float]] = {}
    rated = await session.scalars(select(Card).where(Card.user_id == user_id, Card.last_review.is_not(None)))
    for card in rated:
        recall = scheduler.get_card_retrievability(to_fsrs(card), now)
        by_modality.setdefault(card.modality or UNKNOWN_MODALITY, []).append(recall)
    return {m: Retention(sum(r) / len(r), len(r)) for m, r in by_modality.items()}


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
    # 4. the recall FSRS predicts now, by modality
    predicted = await retention(session, user_id, now=now)
    return Progress(due=due, streak_days=streak(days, now.date()), accuracy=accuracy, retention=predicted)


# --- a quiz's group recap -------------------------------------------------------------------
@dataclass(frozen=True)
class QuestionRecap:
    """One revealed question: how many answered, how many right, the most-picked wrong choice (if any)."""

    position: int  # 1-based
    answered: int
    right: int
    top_wrong: int | None
    top_wrong_count: int = 0
    modality: str | None = None


async def quiz_recap(session: AsyncSession, quiz_id: int) -> tuple[list[QuestionRecap], str | None]:
    """Per revealed question the answers' tally, and the group's weakest modality (the lowest share right
    over the modalities with answers; None when there were none, or only one modality was asked)."""
    questions = await session.scalars(
        select(Question)
        .where(Question.quiz_id == quiz_id, Question.state == "revealed")
        .order_by(Question.position)
    )
    recaps = []
    for question in questions:
        picks = await session.execute(
            select(PlayerAnswer.choice, func.count())
            .where(PlayerAnswer.question_id == question.id, PlayerAnswer.choice.is_not(None))
            .group_by(PlayerAnswer.choice)
        )
        counts = {int(choice): int(n) for choice, n in picks.all() if choice is not None}
        wrong = sorted(((n, -c) for c, n in counts.items() if c != question.answer_index), reverse=True)
        top = (-wrong[0][1], wrong[0][0]) if wrong else (None, 0)
        recaps.append(
            QuestionRecap(
                question.position + 1, sum(counts.values()), counts.get(question.answer_index, 0), top[0], top[1],
                question.modality,
            )
        )  # fmt: skip
    by_modality: dict[str, tuple[int, int]] = {}
    for r in recaps:
        if r.answered and r.modality:
            right, answered = by_modality.get(r.modality, (0, 0))
            by_modality[r.modality] = (right + r.right, answered + r.answered)
    weakest = (
        min(by_modality, key=lambda m: by_modality[m][0] / by_modality[m][1])
        if len(by_modality) > 1
        else None
    )
    return recaps, weakest
