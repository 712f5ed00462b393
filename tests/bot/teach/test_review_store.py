"""Review that tests, in the store (SQLite and PostgreSQL): a card message rates its card once (a second
click, a click after forget-me, a stranger's click change nothing and re-create nothing), a rating changes
once, the daily allowance of cards new to review, scopes (modality, ids, missed cases), the question as
asked, FSRS's predicted retention by modality, and a quiz's group recap."""

from __future__ import annotations

from datetime import timedelta

from fsrs import Rating
from sqlalchemy import func, select

from bot.store import Database, answers, cards, people, progress, quizzes, review_queue, settle
from bot.store.models import Card, Review

from ..store.conftest import NOW

ALICE, BOB, CAROL = 11, 12, 13
CHOICES = [{"text": t, "full_text": f"caption {t}", "id": f"ROCO_{t}"} for t in "ABCD"]


async def _quiz(db: Database, picks: dict[int, int], *, atlas_id: str = "ROCO_A", modality: str = "ct",
                position: int = 0, quiz_id: int | None = None) -> tuple[int, int]:  # fmt: skip
    """A revealed question on `atlas_id` (answer A) with each player's pick; (quiz id, question id)."""
    async with db.session() as s:
        if quiz_id is None:
            quiz = await quizzes.start_quiz(
                s, thread_id=900 + len(picks) + position, guild_id=1, starter_id=ALICE, kind="caption",
                modality=None, question_count=3,
            )  # fmt: skip
            quiz_id = quiz.id
        question = await quizzes.add_question(
            s, quiz_id, position=position, atlas_id=atlas_id, modality=modality, choices=CHOICES,
            answer_index=0, deadline=None, payload={"hints": [], "question": "Which caption?"},
        )  # fmt: skip
    async with db.session() as s:
        for user, choice in picks.items():
            await answers.record_answer(s, question.id, user, choice)
    async with db.session() as s:
        await settle.settle_question(s, question.id, now=NOW)
    return quiz_id, question.id


async def _card(db: Database, user: int, atlas_id: str = "ROCO_A") -> Card:
    async with db.session() as s:
        card = await cards.get_card(s, user, atlas_id)
    assert card is not None
    return card


async def _log_count(db: Database, card_id: int) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(Review).where(Review.card_id == card_id)))


async def test_a_card_message_rates_its_card_once(db: Database):
    await _quiz(db, {ALICE: 1})
    card = await _card(db, ALICE)
    async with db.session() as s:
        version = await cards.card_version(s, card.id)
    later = NOW + timedelta(days=2)
    async with db.session() as s:
        first = await cards.rate_once(
            s, card_id=card.id, user_id=ALICE, rating=Rating.Good, version=version, now=later
        )
    assert first.outcome is cards.RateOutcome.RATED and first.version > version
    due_after_first = first.card.due
    async with db.session() as s:  # the same message clicked again (as after a restart: only the DB knows)
        second = await cards.rate_once(
            s, card_id=card.id, user_id=ALICE, rating=Rating.Again, version=version, now=later
        )
    assert second.outcome is cards.RateOutcome.ALREADY_RATED
    assert await _log_count(db, card.id) == 2  # the quiz's rating and one review
    assert (await _card(db, ALICE)).due == due_after_first


async def test_a_strangers_click_and_a_click_after_forget_me_change_nothing(db: Database):
    await _quiz(db, {ALICE: 1, BOB: 0})
    card = await _card(db, ALICE)
    async with db.session() as s:
        version = await cards.card_version(s, card.id)
        stranger = await cards.rate_once(s, card_id=card.id, user_id=BOB, rating=Rating.Easy, version=version)
    assert stranger.outcome is cards.RateOutcome.NOT_YOURS
    assert await _log_count(db, card.id) == 1
    async with db.session() as s:
        await people.forget_user(s, ALICE)
    async with db.session() as s:
        gone = await cards.rate_once(s, card_id=card.id, user_id=ALICE, rating=Rating.Good, version=version)
        changed = await cards.change_once(
            s, card_id=card.id, user_id=ALICE, version=version, rating=Rating.Easy
        )
    assert gone.outcome is changed.outcome is cards.RateOutcome.REMOVED
    async with db.session() as s:  # nothing re-created
        assert await s.scalar(select(func.count()).select_from(Card).where(Card.user_id == ALICE)) == 0
        assert await s.scalar(select(func.count()).select_from(Review).where(Review.user_id == ALICE)) == 0


async def test_a_rating_changes_once_and_the_card_is_the_librarys_replay(db: Database):
    await _quiz(db, {ALICE: 0})
    card = await _card(db, ALICE)
    async with db.session() as s:
        rated = await cards.rate_once(
            s, card_id=card.id, user_id=ALICE, rating=Rating.Again, version=await cards.card_version(s, card.id),
            now=NOW + timedelta(days=1),
        )  # fmt: skip
    async with db.session() as s:
        changed = await cards.change_once(
            s, card_id=card.id, user_id=ALICE, version=rated.version, rating=Rating.Easy
        )
    assert changed.outcome is cards.RateOutcome.RATED
    expected, _ = cards.default_scheduler().review_card(
        cards.default_scheduler().review_card(cards.FsrsCard(due=NOW), Rating.Good, NOW)[0],
        Rating.Easy, NOW + timedelta(days=1),
    )  # fmt: skip
    assert changed.card.due == expected.due and changed.card.due > rated.card.due
    async with db.session() as s:
        again = await cards.change_once(
            s, card_id=card.id, user_id=ALICE, version=rated.version, rating=Rating.Hard
        )
    assert again.outcome is cards.RateOutcome.ALREADY_RATED
    assert await _log_count(db, card.id) == 2
    assert (await _card(db, ALICE)).due == expected.due


async def test_an_old_unversioned_button_rates_only_a_due_card(db: Database):
    await _quiz(db, {ALICE: 0})
    card = await _card(db, ALICE)
    async with db.session() as s:
        early = await cards.rate_once(
            s, card_id=card.id, user_id=ALICE, rating=Rating.Good, version=None, now=NOW
        )
    assert early.outcome is cards.RateOutcome.ALREADY_RATED
    async with db.session() as s:
        due = await cards.rate_once(
            s, card_id=card.id, user_id=ALICE, rating=Rating.Good, version=None, now=NOW + timedelta(days=30)
        )
    assert due.outcome is cards.RateOutcome.RATED


async def test_at_most_the_daily_number_of_new_cards_and_scopes(db: Database):
    quiz_id, _ = await _quiz(db, {ALICE: 1}, atlas_id="ROCO_A", modality="ct")
    await _quiz(db, {ALICE: 0}, atlas_id="ROCO_B", modality="mri", position=1, quiz_id=quiz_id)
    later = NOW + timedelta(days=40)
    async with db.session() as s:
        first, count = await review_queue.next_card(s, ALICE, new_per_day=1, now=later)
        assert count == 2 and first is not None
        await cards.rate_once(s, card_id=first.id, user_id=ALICE, rating=Rating.Good,
                              version=await cards.card_version(s, first.id), now=later)  # fmt: skip
    async with db.session() as s:  # today's one new card is used: the other (never reviewed) waits
        assert await review_queue.next_card(s, ALICE, new_per_day=1, now=later) == (None, 0)
        other, _ = await review_queue.next_card(s, ALICE, new_per_day=2, now=later)
        assert other is not None and other.id != first.id
        mri, _ = await review_queue.next_card(
            s, ALICE, new_per_day=20, now=later, scope=review_queue.Scope("mri")
        )
        assert mri is not None and mri.atlas_id == "ROCO_B"
        only_b = review_queue.in_ids(["ROCO_B"])
        assert (await review_queue.next_card(s, ALICE, new_per_day=20, now=later, scope=only_b))[
            0
        ].atlas_id == "ROCO_B"
        # missed cases: only what ALICE got wrong, due or not, until reviewed once
        assert await review_queue.missed_ids(s, quiz_id, ALICE) == ["ROCO_A"]
        assert first.atlas_id == "ROCO_A"  # the wrong answer came back first, and was reviewed at `later`
        reviewed = review_queue.in_ids(["ROCO_A"], not_reviewed_since=NOW)
        assert (await review_queue.next_card(s, ALICE, new_per_day=0, now=NOW, scope=reviewed))[0] is None
        missed = review_queue.in_ids(["ROCO_A"], not_reviewed_since=later + timedelta(seconds=1))
        card, _ = await review_queue.next_card(s, ALICE, new_per_day=10**6, now=NOW, scope=missed)
        assert card is not None and card.atlas_id == "ROCO_A"  # not due at NOW, served all the same
        asked = await review_queue.asked_as(s, ALICE, "ROCO_A")
        assert (
            asked is not None
            and asked.answer_index == 0
            and [c["id"] for c in asked.choices][:2] == ["ROCO_A", "ROCO_B"]
        )
        assert await review_queue.topic_ids(s, ALICE, "CAPTION a") == {
            "ROCO_A",
            "ROCO_B",
        }  # both right captions are "caption A"


async def test_progress_shows_the_retention_fsrs_predicts_and_the_recap_tallies(db: Database):
    quiz_id, _ = await _quiz(db, {ALICE: 0, BOB: 1, CAROL: 1}, atlas_id="ROCO_A", modality="ct")
    await _quiz(
        db, {ALICE: 0, BOB: 0, CAROL: 2}, atlas_id="ROCO_B", modality="mri", position=1, quiz_id=quiz_id
    )
    async with db.session() as s:
        soon = await progress.progress(s, ALICE, now=NOW + timedelta(hours=1))
        late = await progress.progress(s, ALICE, now=NOW + timedelta(days=60))
        recap, weakest = await progress.quiz_recap(s, quiz_id)
    assert set(soon.retention) == {"ct", "mri"} and soon.retention["ct"].cards == 1
    assert 0 < late.retention["ct"].mean < soon.retention["ct"].mean <= 1
    assert [(r.position, r.answered, r.right, r.top_wrong, r.top_wrong_count) for r in recap] == [
        (1, 3, 1, 1, 2), (2, 3, 2, 2, 1),
    ]  # fmt: skip
    assert weakest == "ct"
