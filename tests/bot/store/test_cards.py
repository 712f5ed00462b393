"""FSRS review cards: scheduled by the `fsrs` library (a wrong answer comes back sooner than a right
one), re-ratable with four ratings, due cards found by query, quiz outcomes rated as Anki would."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fsrs import Card as FsrsCard
from fsrs import Rating
from sqlalchemy import select

from bot.store import Database, answers, cards, quizzes, settle
from bot.store.models import Review

from .conftest import NOW

ALICE, BOB, CAROL, DAN = 1, 2, 3, 4


async def _review(db: Database, user: int, rating: Rating, atlas_id: str = "ROCO_1", when=NOW):  # noqa: ANN001
    async with db.session() as s:
        return await cards.review(
            s, user_id=user, atlas_id=atlas_id, rating=rating, source="review", now=when
        )


def _library(*ratings_at: tuple[Rating, object]) -> FsrsCard:
    """The card the library itself computes for these ratings, from a new card."""
    card = FsrsCard(due=NOW)
    for rating, when in ratings_at:
        card, _ = cards.default_scheduler().review_card(card, rating, when)
    return card


def test_a_quiz_outcome_earns_again_hard_or_good():
    assert cards.rating_for(correct=False, hint_level=0) is Rating.Again
    assert cards.rating_for(correct=False, hint_level=2) is Rating.Again
    assert cards.rating_for(correct=True, hint_level=1) is Rating.Hard
    assert cards.rating_for(correct=True, hint_level=0) is Rating.Good


async def test_a_wrong_answer_is_due_sooner_than_a_right_one_as_the_library_schedules(db: Database):
    wrong = await _review(db, ALICE, Rating.Again)
    hard = await _review(db, BOB, Rating.Hard)
    right = await _review(db, CAROL, Rating.Good)
    assert NOW < wrong.due < hard.due <= right.due
    for stored, rating in ((wrong, Rating.Again), (hard, Rating.Hard), (right, Rating.Good)):
        expected = _library((rating, NOW))
        assert (stored.due, stored.state, stored.step) == (expected.due, int(expected.state), expected.step)
        assert stored.stability == pytest.approx(expected.stability)
        assert stored.difficulty == pytest.approx(expected.difficulty)


async def test_reviews_accumulate_on_one_card_per_student_and_item(db: Database):
    times = [NOW, NOW + timedelta(minutes=10), NOW + timedelta(days=1), NOW + timedelta(days=4)]
    for when in times:
        card = await _review(db, ALICE, Rating.Good, when=when)
    expected = _library(*((Rating.Good, t) for t in times))
    assert card.due == expected.due and card.last_review == times[-1]
    assert card.due - times[-1] > timedelta(days=1)  # remembered well: the interval grew
    async with db.session() as s:
        assert (await cards.get_card(s, ALICE, "ROCO_1")).id == card.id
        logs = (await s.scalars(select(Review).where(Review.card_id == card.id))).all()
        assert len(logs) == 4


async def test_re_rating_replaces_the_last_rating_and_reschedules_with_the_library(db: Database):
    card = await _review(db, ALICE, Rating.Again)
    for rating in (Rating.Easy, Rating.Hard, Rating.Good, Rating.Again):
        async with db.session() as s:
            rerated = await cards.rerate(s, user_id=ALICE, card_id=card.id, rating=rating)
        assert rerated.due == _library((rating, NOW)).due
    async with db.session() as s:
        (log,) = (await s.scalars(select(Review).where(Review.card_id == card.id))).all()
        assert log.rating == int(Rating.Again)
        with pytest.raises(LookupError, match="is not a card of user"):
            await cards.rerate(s, user_id=BOB, card_id=card.id, rating=Rating.Good)


async def test_due_cards_are_the_ones_whose_time_has_come_most_overdue_first(db: Database):
    await _review(db, ALICE, Rating.Again, "ROCO_A")  # back in a minute
    await _review(db, ALICE, Rating.Good, "ROCO_B")  # back in ten minutes
    await _review(db, BOB, Rating.Again, "ROCO_A")
    async with db.session() as s:
        assert await cards.due_count(s, ALICE, now=NOW) == 0
        soon = NOW + timedelta(minutes=5)
        assert [c.atlas_id for c in await cards.due_cards(s, ALICE, now=soon)] == ["ROCO_A"]
        later = NOW + timedelta(hours=1)
        assert [c.atlas_id for c in await cards.due_cards(s, ALICE, now=later)] == ["ROCO_A", "ROCO_B"]
        assert await cards.due_count(s, ALICE, now=later) == 2
        assert (
            await cards.due_cards(s, ALICE, now=later, limit=1)
            == (await cards.due_cards(s, ALICE, now=later))[:1]
        )


async def test_settling_a_question_turns_each_answer_into_a_card_rated_from_the_outcome(db: Database):
    async with db.session() as s:
        quiz = await quizzes.start_quiz(
            s, thread_id=9, guild_id=None, starter_id=ALICE, kind="modality", modality=None, question_count=1
        )
        question = await quizzes.add_question(
            s, quiz.id, position=0, atlas_id="ROCO_5", modality="xray", choices=[{"text": t} for t in "ABCD"],
            answer_index=0, deadline=None,
        )  # fmt: skip
    async with db.session() as s:
        await answers.record_answer(s, question.id, ALICE, 1)  # wrong
        await answers.record_hint(s, question.id, BOB, 1)
        await answers.record_answer(s, question.id, BOB, 0)  # right with a hint
        await answers.record_answer(s, question.id, CAROL, 0)  # right
        await answers.record_hint(s, question.id, DAN, 1)  # never answered
    async with db.session() as s:
        settled = await settle.settle_question(s, question.id, now=NOW)
    assert {r.user_id: (r.correct, r.points) for r in settled.results} == {
        ALICE: (False, 0), BOB: (True, 7), CAROL: (True, 10),
    }  # fmt: skip
    async with db.session() as s:
        ratings = {
            u: r
            for u, r in (
                await s.execute(select(Review.user_id, Review.rating).where(Review.source == "quiz"))
            ).all()
        }
        assert ratings == {ALICE: Rating.Again, BOB: Rating.Hard, CAROL: Rating.Good}
        assert await cards.get_card(s, DAN, "ROCO_5") is None
        alice, carol = await cards.get_card(s, ALICE, "ROCO_5"), await cards.get_card(s, CAROL, "ROCO_5")
        assert alice.due < carol.due and alice.modality == "xray"
        assert {r.card_id for r in settled.results} == {
            alice.id, carol.id, (await cards.get_card(s, BOB, "ROCO_5")).id,
        }  # fmt: skip
