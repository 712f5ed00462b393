"""What a review serves: the student's due cards (optionally of one modality or among some atlas ids),
at most a daily number of cards new to review, each with the question as it was asked in the quiz; and
the cases one student missed in one quiz (the recap's "Review missed cases").

A card is *new to review* until its first rating in review (a quiz outcome rates it too, but the student
has not yet met it in review); as in Anki, at most `new_per_day` such cards are started per UTC day.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Card, PlayerAnswer, Question, Review, utcnow


@dataclass(frozen=True)
class Scope:
    """Which due cards a review serves: all, one modality, some atlas ids (a topic's pool, a quiz's
    missed cases). `ids=None` is no limit; an empty set serves nothing."""

    modality: str | None = None
    ids: frozenset[str] | None = None
    # set: serve the cards in scope not yet rated in review since then, due or not (missed cases)
    not_reviewed_since: datetime | None = None


@dataclass(frozen=True)
class AskedAs:
    """A card's question as a quiz asked it: the choices (the question row's JSON) and the right index."""

    question_id: int
    choices: list[dict[str, Any]]
    answer_index: int
    payload: dict[str, Any] | None


async def get_card(session: AsyncSession, user_id: int, atlas_id: str) -> Card | None:
    """The student's card for an atlas item, or None."""
    return await session.scalar(select(Card).where(Card.user_id == user_id, Card.atlas_id == atlas_id))


def _in_scope(user_id: int, now: datetime, scope: Scope) -> ColumnElement[bool]:
    if scope.not_reviewed_since is None:
        where = and_(Card.user_id == user_id, Card.due <= now)
    else:
        since = scope.not_reviewed_since
        reviewed = exists().where(
            Review.card_id == Card.id, Review.source == "review", Review.reviewed_at >= since
        )
        where = and_(Card.user_id == user_id, ~reviewed)
    if scope.modality is not None:
        where = and_(where, Card.modality == scope.modality)
    if scope.ids is not None:
        where = and_(where, Card.atlas_id.in_(sorted(scope.ids)))
    return where


def _reviewed() -> ColumnElement[bool]:
    """The card has been rated in review at least once (it is no longer new to review)."""
    return exists().where(Review.card_id == Card.id, Review.source == "review")


async def due_cards(
    session: AsyncSession,
    user_id: int,
    *,
    now: datetime | None = None,
    limit: int = 20,
    scope: Scope = Scope(),
) -> list[Card]:
    """The student's cards due now in `scope`, most overdue first."""
    query = (
        select(Card)
        .where(_in_scope(user_id, now or utcnow(), scope))
        .order_by(Card.due, Card.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def due_count(
    session: AsyncSession, user_id: int, *, now: datetime | None = None, scope: Scope = Scope()
) -> int:
    """How many of the student's cards in `scope` are due now."""
    query = select(func.count()).select_from(Card).where(_in_scope(user_id, now or utcnow(), scope))
    return int(await session.scalar(query) or 0)


async def started_today(session: AsyncSession, user_id: int, *, now: datetime | None = None) -> int:
    """How many cards the student met in review for the first time this UTC day."""
    midnight = datetime.combine((now or utcnow()).date(), time(), tzinfo=(now or utcnow()).tzinfo)
    first = (
        select(func.min(Review.reviewed_at).label("first"))
        .where(Review.user_id == user_id, Review.source == "review")
        .group_by(Review.card_id)
        .subquery()
    )
    return int(
        await session.scalar(select(func.count()).select_from(first).where(first.c.first >= midnight)) or 0
    )


async def next_card(
    session: AsyncSession,
    user_id: int,
    *,
    new_per_day: int,
    now: datetime | None = None,
    scope: Scope = Scope(),
) -> tuple[Card | None, int]:
    """The next card to serve and how many are due in scope (new-to-review ones only while today's
    allowance lasts; the count is of what can be served today)."""
    now = now or utcnow()
    where = _in_scope(user_id, now, scope)
    if await started_today(session, user_id, now=now) >= new_per_day:
        where = and_(where, _reviewed())
    card = await session.scalar(select(Card).where(where).order_by(Card.due, Card.id).limit(1))
    count = int(await session.scalar(select(func.count()).select_from(Card).where(where)) or 0)
    return card, count


async def asked_as(session: AsyncSession, user_id: int, atlas_id: str) -> AskedAs | None:
    """The last quiz question on `atlas_id` the student answered (else any asked on it), or None."""
    mine = (
        select(Question)
        .join(PlayerAnswer, PlayerAnswer.question_id == Question.id)
        .where(Question.atlas_id == atlas_id, PlayerAnswer.user_id == user_id)
        .order_by(Question.id.desc())
        .limit(1)
    )
    question = await session.scalar(mine) or await session.scalar(
        select(Question).where(Question.atlas_id == atlas_id).order_by(Question.id.desc()).limit(1)
    )
    if question is None or len(question.choices) < 2:
        return None
    return AskedAs(question.id, list(question.choices), question.answer_index, question.payload)


async def missed_ids(session: AsyncSession, quiz_id: int, user_id: int) -> list[str]:
    """The atlas ids of the revealed questions of a quiz the student answered wrongly, in quiz order."""
    rows = await session.scalars(
        select(Question.atlas_id)
        .join(PlayerAnswer, PlayerAnswer.question_id == Question.id)
        .where(
            Question.quiz_id == quiz_id,
            Question.state == "revealed",
            PlayerAnswer.user_id == user_id,
            PlayerAnswer.choice.is_not(None),
            PlayerAnswer.choice != Question.answer_index,
        )
        .order_by(Question.position)
    )
    return list(dict.fromkeys(rows))


def in_ids(ids: Collection[str], *, not_reviewed_since: datetime | None = None) -> Scope:
    """A scope of some atlas ids."""
    return Scope(ids=frozenset(ids), not_reviewed_since=not_reviewed_since)


async def topic_ids(session: AsyncSession, user_id: int, topic: str) -> set[str]:
    """The atlas ids of the student's quiz cases whose right caption mentions `topic` (case-insensitive)."""
    needle = topic.casefold().strip()
    rows = await session.execute(
        select(Question.atlas_id, Question.choices, Question.answer_index)
        .join(PlayerAnswer, PlayerAnswer.question_id == Question.id)
        .where(PlayerAnswer.user_id == user_id)
    )
    found = set()
    for atlas_id, choices, answer in rows.all():
        right = choices[answer] if 0 <= answer < len(choices) else {}
        if needle and needle in str(right.get("full_text") or right.get("text") or "").casefold():
            found.add(atlas_id)
    return found
