"""Spaced review with FSRS: one card per (student, atlas item), scheduled by `fsrs.Scheduler`.

The card's FSRS fields are columns (so "what is due" is a query); every rating is kept in the review
log, so a re-rating replaces the last one and the card is rebuilt from its log by the library
(`Scheduler.reschedule_card`), never by a formula of ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from fsrs import Card as FsrsCard
from fsrs import Rating, ReviewLog, Scheduler, State
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ._sql import insert
from .models import Card, Review, utcnow

REVIEW_SOURCES = ("quiz", "review")


def default_scheduler() -> Scheduler:
    """FSRS with its published default parameters; no fuzzing, so replaying a log rebuilds the same card."""
    return Scheduler(enable_fuzzing=False)


def rating_for(correct: bool, hint_level: int) -> Rating:
    """The rating a quiz outcome earns: wrong → Again, right with a hint → Hard, right → Good."""
    if not correct:
        return Rating.Again
    return Rating.Hard if hint_level > 0 else Rating.Good


def _to_fsrs(card: Card) -> FsrsCard:
    return FsrsCard(
        card_id=card.id,
        state=State(card.state),
        step=card.step,
        stability=card.stability,
        difficulty=card.difficulty,
        due=card.due,
        last_review=card.last_review,
    )


def _store(card: Card, scheduled: FsrsCard) -> None:
    card.state = int(scheduled.state)
    card.step = scheduled.step
    card.stability = scheduled.stability
    card.difficulty = scheduled.difficulty
    card.due = scheduled.due
    card.last_review = scheduled.last_review


async def _cards_for_update(
    session: AsyncSession, user_ids: list[int], atlas_id: str, modality: str | None, now: datetime
) -> dict[int, Card]:
    """Each student's card for an item, created (new, due now) on first sight; row-locked, by user id."""
    fresh = FsrsCard(due=now)
    stmt = insert(session, Card).on_conflict_do_nothing(index_elements=[Card.user_id, Card.atlas_id])
    rows = [
        {
            "user_id": user_id,
            "atlas_id": atlas_id,
            "modality": modality,
            "state": int(fresh.state),
            "step": fresh.step,
            "stability": None,
            "difficulty": None,
            "due": now,
            "last_review": None,
            "created_at": now,
        }
        for user_id in user_ids
    ]
    await session.execute(stmt, rows)  # one statement for every student, compiled once
    found = await session.scalars(
        select(Card)
        .where(Card.user_id.in_(user_ids), Card.atlas_id == atlas_id)
        .order_by(Card.user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {card.user_id: card for card in found}


async def review(
    session: AsyncSession,
    *,
    user_id: int,
    atlas_id: str,
    rating: Rating,
    source: str,
    modality: str | None = None,
    now: datetime | None = None,
    scheduler: Scheduler | None = None,
) -> Card:
    """Rate the student's card for an atlas item (creating it on first sight) and schedule it with FSRS."""
    reviewed = await review_all(
        session,
        ratings={user_id: rating},
        atlas_id=atlas_id,
        source=source,
        modality=modality,
        now=now,
        scheduler=scheduler,
    )
    return reviewed[user_id]


async def review_all(
    session: AsyncSession,
    *,
    ratings: Mapping[int, Rating],
    atlas_id: str,
    source: str,
    modality: str | None = None,
    now: datetime | None = None,
    scheduler: Scheduler | None = None,
) -> dict[int, Card]:
    """`review` for many students at once (a quiz reveal): {user id: rating} → {user id: card}, in a
    few statements whatever the number of students."""
    if source not in REVIEW_SOURCES:
        raise ValueError(f"source must be one of {', '.join(REVIEW_SOURCES)}; got {source!r}")
    if not ratings:
        return {}
    now = now or utcnow()
    scheduler = scheduler or default_scheduler()
    found = await _cards_for_update(session, sorted(ratings), atlas_id, modality, now)
    for user_id, card in found.items():
        rating = Rating(ratings[user_id])
        scheduled, _log = scheduler.review_card(_to_fsrs(card), rating, now)
        _store(card, scheduled)
        session.add(Review(card_id=card.id, user_id=user_id, rating=int(rating), source=source, reviewed_at=now))
    await session.flush()
    return found


async def rerate(
    session: AsyncSession,
    *,
    user_id: int,
    card_id: int,
    rating: Rating,
    scheduler: Scheduler | None = None,
) -> Card:
    """Replace the card's last rating (the student disagrees with the quiz's), rescheduling from its log.

    `LookupError` when the card is not this student's or has never been rated.
    """
    card = await session.scalar(
        select(Card).where(Card.id == card_id, Card.user_id == user_id).with_for_update()
    )
    if card is None:
        raise LookupError(f"card {card_id} is not a card of user {user_id}")
    logs = list(
        await session.scalars(
            select(Review).where(Review.card_id == card_id).order_by(Review.reviewed_at, Review.id)
        )
    )
    if not logs:
        raise LookupError(f"card {card_id} has never been rated")
    logs[-1].rating = int(rating)
    history = [
        ReviewLog(
            card_id=card.id, rating=Rating(log.rating), review_datetime=log.reviewed_at, review_duration=None
        )
        for log in logs
    ]
    rescheduled = (scheduler or default_scheduler()).reschedule_card(_to_fsrs(card), history)
    _store(card, rescheduled)
    await session.flush()
    return card


async def get_card(session: AsyncSession, user_id: int, atlas_id: str) -> Card | None:
    """The student's card for an atlas item, or None."""
    return await session.scalar(select(Card).where(Card.user_id == user_id, Card.atlas_id == atlas_id))


async def due_cards(
    session: AsyncSession, user_id: int, *, now: datetime | None = None, limit: int = 20
) -> list[Card]:
    """The student's cards due now, most overdue first."""
    query = (
        select(Card)
        .where(Card.user_id == user_id, Card.due <= (now or utcnow()))
        .order_by(Card.due, Card.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def due_count(session: AsyncSession, user_id: int, *, now: datetime | None = None) -> int:
    """How many of the student's cards are due now."""
    query = (
        select(func.count()).select_from(Card).where(Card.user_id == user_id, Card.due <= (now or utcnow()))
    )
    return int(await session.scalar(query) or 0)
