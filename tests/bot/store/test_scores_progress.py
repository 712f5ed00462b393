"""Scores and progress: points per answer, the quiz scoreboard, a server's top 10 all-time and this
week, and a student's due count, streak and accuracy by modality."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fsrs import Rating

from bot.store import Database, answers, cards, progress, quizzes, scores, settle
from bot.store.progress import Accuracy

from .conftest import NOW

GUILD, OTHER_GUILD = 800, 801


async def _settled_question(
    db: Database, guild: int | None, clicks: dict[int, int], *, when: datetime, modality="ct", thread=1
):  # noqa: ANN001
    """A one-question quiz whose right answer is 0, answered by `clicks` (user → choice), revealed at `when`."""
    async with db.session() as s:
        quiz = await quizzes.start_quiz(
            s, thread_id=thread, guild_id=guild, starter_id=1, kind="caption", modality=None, question_count=1
        )
        question = await quizzes.add_question(
            s, quiz.id, position=0, atlas_id=f"ROCO_{thread}", modality=modality,
            choices=[{"text": t} for t in "ABCD"], answer_index=0, deadline=None,
        )  # fmt: skip
        for user, choice in clicks.items():
            await answers.record_answer(s, question.id, user, choice)
    async with db.session() as s:
        settled = await settle.settle_question(s, question.id, now=when)
        await quizzes.finish_quiz(s, quiz.id, now=when)
    return settled


def test_points_reward_right_answers_less_each_hint_never_below_one():
    # the contract's rule (engine.contract.quiz_points): 10, 7, 4, then 2 once every rung was taken
    assert [scores.points_for(True, h) for h in range(5)] == [10, 7, 4, 2, 2]
    assert [scores.points_for(True, h, [10, 6, 1]) for h in range(4)] == [10, 6, 1, 1]  # the question's own ladder
    assert scores.points_for(False, 0) == scores.points_for(False, 2) == 0


def test_the_week_starts_on_monday_midnight_utc():
    assert scores.week_start(NOW) == datetime(2025, 3, 3, tzinfo=UTC)
    assert scores.week_start(datetime(2025, 3, 3, 0, 0, tzinfo=UTC)) == datetime(2025, 3, 3, tzinfo=UTC)
    assert scores.week_start(datetime(2025, 3, 9, 23, 59, tzinfo=UTC)) == datetime(2025, 3, 3, tzinfo=UTC)


async def test_the_leaderboards_rank_the_servers_top_ten_all_time_and_this_week(db: Database):
    last_week = NOW - timedelta(days=5)  # Friday before
    # last week: users 1..12 answer; users 1..6 right (10 points each)
    await _settled_question(
        db, GUILD, {u: (0 if u <= 6 else 1) for u in range(1, 13)}, when=last_week, thread=1
    )
    # this week: users 7..12 right twice
    for thread in (2, 3):
        await _settled_question(
            db, GUILD, {u: (0 if u >= 7 else 1) for u in range(1, 13)}, when=NOW, thread=thread
        )
    # another server's points never show here
    await _settled_question(db, OTHER_GUILD, {99: 0}, when=NOW, thread=4)
    async with db.session() as s:
        all_time = await scores.leaderboard(s, GUILD)
        weekly = await scores.leaderboard(s, GUILD, since=scores.week_start(NOW))
    assert len(all_time) == 10
    assert [(st.user_id, st.points) for st in all_time[:6]] == [(u, 20) for u in range(7, 13)]
    assert [(st.user_id, st.points) for st in all_time[6:]] == [(u, 10) for u in range(1, 5)]
    assert all(st.answered == 3 for st in all_time)
    assert [(st.user_id, st.points, st.correct) for st in weekly[:6]] == [(u, 20, 2) for u in range(7, 13)]
    assert {st.points for st in weekly[6:]} == {0}
    assert 99 not in {st.user_id for st in all_time + weekly}


async def test_the_quiz_scoreboard_sums_the_quiz_only(db: Database):
    settled = await _settled_question(db, GUILD, {5: 0, 6: 2}, when=NOW)
    await _settled_question(db, GUILD, {5: 0}, when=NOW, thread=2)
    assert [(st.user_id, st.points, st.correct, st.answered) for st in settled.scoreboard] == [
        (5, 10, 1, 1), (6, 0, 0, 1),
    ]  # fmt: skip


def test_a_streak_counts_days_in_a_row_up_to_today_or_yesterday():
    today = date(2025, 3, 5)
    days = {today - timedelta(days=n) for n in (0, 1, 2, 4)}
    assert progress.streak(days, today) == 3
    assert progress.streak(days - {today}, today) == 2  # today is not over yet
    assert progress.streak({today - timedelta(days=2)}, today) == 0
    assert progress.streak(set(), today) == 0


async def test_progress_shows_due_cards_streak_and_accuracy_by_modality(db: Database):
    user = 42
    await _settled_question(db, GUILD, {user: 0}, when=NOW - timedelta(days=2), modality="ct", thread=1)
    await _settled_question(db, GUILD, {user: 1}, when=NOW - timedelta(days=1), modality="ct", thread=2)
    await _settled_question(db, None, {user: 0}, when=NOW - timedelta(days=1), modality="mri", thread=3)
    async with db.session() as s:
        await cards.review(s, user_id=user, atlas_id="ROCO_9", rating=Rating.Good, source="review", now=NOW)
    async with db.session() as s:
        shown = await progress.progress(s, user, now=NOW + timedelta(hours=1))
    assert shown.streak_days == 3
    assert shown.accuracy == {"ct": Accuracy(1, 2), "mri": Accuracy(1, 1)}
    assert shown.accuracy["ct"].share == 0.5
    # every card was reviewed at most a day ago, with a short learning step: all due an hour after NOW
    assert shown.due == 4
    async with db.session() as s:
        nobody = await progress.progress(s, 7, now=NOW)
    assert (nobody.due, nobody.streak_days, nobody.accuracy) == (0, 0, {})
