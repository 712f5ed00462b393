"""Spaced review with FSRS: one card per (student, atlas item), scheduled by `fsrs.Scheduler`.

The card's FSRS fields are columns (so "what is due" is a query); every rating is kept in the review
log, so a re-rating replaces the last one and the card is rebuilt from its log by the library
(`Scheduler.reschedule_card`), never by a formula of ours.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from fsrs import Card as FsrsCard
from fsrs import Rating, ReviewLog, Scheduler, State
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ._sql import insert
from .models import Card, Review, utcnow
from .review_queue import due_cards as due_cards  # kept importable from here for their callers
from .review_queue import due_count as due_count
from .review_queue import get_card as get_card

REVIEW_SOURCES = ("quiz", "review")


def default_scheduler() -> Scheduler:
    """FSRS with its published default parameters; no fuzzing, so replaying a log rebuilds the same card."""
    return Scheduler(enable_fuzzing=False)


def rating_for(correct: bool, hint_level: int) -> Rating:
    """The rating a quiz outcome earns: wrong → Again, right with a hint → Hard, right → Good."""
    if not correct:
        return Rating.Again
    return Rating.Hard if hint_level > 0 else Rating.Good


def to_fsrs(card: Card) -> FsrsCard:
    """The stored card as the library's `fsrs.Card`."""
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
        scheduled, _log = scheduler.review_card(to_fsrs(card), rating, now)
        _store(card, scheduled)
        session.add(
            Review(card_id=card.id, user_id=user_id, rating=int(rating), source=source, reviewed_at=now)
        )
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
    await _replay(session, card, scheduler)
    return card


async def _replay(session: AsyncSession, card: Card, scheduler: Scheduler | None) -> None:
    """Reschedule `card` from its whole review log, by the library (after a rating was replaced)."""
    await session.flush()
    logs = await session.scalars(
        select(Review).where(Review.card_id == card.id).order_by(Review.reviewed_at, Review.id)
    )
    history = [
        ReviewLog(
            card_id=card.id, rating=Rating(r.rating), review_datetime=r.reviewed_at, review_duration=None
        )
        for r in logs
    ]
    _store(card, (scheduler or default_scheduler()).reschedule_card(to_fsrs(card), history))
    await session.flush()


# --- one rating per card message ------------------------------------------------------------
# A card's version is the id of its newest review-log row (0 before any): a card message carries the
# version it was shown at, so its buttons rate it once, also after a restart, and never re-create it.
class RateOutcome(enum.StrEnum):
    """What a rating click did."""

    RATED = "rated"
    ALREADY_RATED = "already_rated"  # the card moved on since that message was shown: nothing changed
    REMOVED = "removed"  # the card is gone (forget-me): nothing changed, nothing re-created
    NOT_YOURS = "not_yours"


@dataclass(frozen=True)
class Rated:
    """A rating click's outcome; with RATED, the card as rescheduled and its new version."""

    outcome: RateOutcome
    card: Card | None = None
    version: int = 0


async def card_version(session: AsyncSession, card_id: int) -> int:
    """The id of the card's newest review-log row, 0 when it has none."""
    return int(await session.scalar(select(func.max(Review.id)).where(Review.card_id == card_id)) or 0)


async def _locked_own_card(
    session: AsyncSession, card_id: int, user_id: int
) -> tuple[Card | None, RateOutcome | None]:
    """The card row-locked for the rest of the transaction, or why it cannot be rated."""
    card = await session.scalar(
        select(Card).where(Card.id == card_id).with_for_update().execution_options(populate_existing=True)
    )
    if card is None:
        return None, RateOutcome.REMOVED
    if card.user_id != user_id:
        return None, RateOutcome.NOT_YOURS
    return card, None


async def rate_once(
    session: AsyncSession,
    *,
    card_id: int,
    user_id: int,
    rating: Rating,
    version: int | None,
    now: datetime | None = None,
    scheduler: Scheduler | None = None,
) -> Rated:
    """Rate an existing card from a card message shown at `version`, in this one transaction: the card is
    locked, checked and rated together, so a forget-me in between leaves it deleted (REMOVED) and a
    second click on the same message changes nothing (ALREADY_RATED). `version=None` is a message from
    before versions: it rates only a card that is due."""
    now = now or utcnow()
    card, refused = await _locked_own_card(session, card_id, user_id)
    if card is None:
        return Rated(refused or RateOutcome.REMOVED)
    current = await card_version(session, card_id)
    if (version is None and card.due > now) or (version is not None and version != current):
        return Rated(RateOutcome.ALREADY_RATED, card, current)
    scheduled, _log = (scheduler or default_scheduler()).review_card(to_fsrs(card), rating, now)
    _store(card, scheduled)
    row = Review(card_id=card.id, user_id=user_id, rating=int(rating), source="review", reviewed_at=now)
    session.add(row)
    await session.flush()
    return Rated(RateOutcome.RATED, card, row.id)


async def change_once(
    session: AsyncSession,
    *,
    card_id: int,
    user_id: int,
    version: int,
    rating: Rating,
    scheduler: Scheduler | None = None,
    source: str | None = None,
) -> Rated:
    """Replace the rating given at `version` (the log row a rating made) once: the row is swapped for a
    new one (so the version moves on and a second change is ALREADY_RATED) and the card rescheduled
    from its whole log by the library."""
    card, refused = await _locked_own_card(session, card_id, user_id)
    if card is None:
        return Rated(refused or RateOutcome.REMOVED)
    if await card_version(session, card_id) != version:
        return Rated(RateOutcome.ALREADY_RATED, card, version)
    old = await session.get(Review, version)
    assert old is not None  # it is the card's newest row
    new = Review(
        card_id=card.id,
        user_id=user_id,
        rating=int(rating),
        source=source or old.source,
        reviewed_at=old.reviewed_at,
    )
    await session.delete(old)
    session.add(new)
    await _replay(session, card, scheduler)
    return Rated(RateOutcome.RATED, card, new.id)
