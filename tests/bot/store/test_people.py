"""forget-me: every row about a user is gone afterwards (checked by querying each table), every text they
typed is gone (jobs, turns, the query of the threads they asked in), other people's rows are untouched,
and quizzes they started stay for the others without their id."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fsrs import Rating
from sqlalchemy import func, inspect, or_, select

from bot.rules.quiz_fair import ReportReason
from bot.store import Database, answers, cards, jobs, people, quizzes, reports, settle, threads, turns
from bot.store.models import Base, Card

from .conftest import NOW

ME, YOU = 111_111_111_111_111_111, 222_222_222_222_222_222
MY_QUERY, YOUR_QUERY = "my rash after the biopsy", "why is a pneumothorax dark"


async def _every_value(db: Database) -> str:
    """Every value of every row of every table, as one string (to find a text wherever it is kept)."""
    found: list[str] = []
    async with db.session() as s:
        for table in Base.metadata.sorted_tables:
            found += [repr(tuple(row)) for row in (await s.execute(select(table))).all()]
    return "\n".join(found)


async def _rows_naming(db: Database, user_id: int) -> dict[str, int]:
    """Rows in every table with a column that holds a user id, counted straight from the database."""
    found: dict[str, int] = {}
    async with db.session() as s:
        for table in Base.metadata.sorted_tables:
            user_columns = [c for c in table.c if c.name in ("user_id", "starter_id")]
            if user_columns:
                query = (
                    select(func.count()).select_from(table).where(or_(*(c == user_id for c in user_columns)))
                )
                found[table.name] = int(await s.scalar(query) or 0)
    return found


async def _a_bit_of_everything(db: Database) -> None:
    async with db.session() as s:
        await threads.remember_thread(
            s, thread_id=1, channel_id=2, guild_id=3, command="search", query=MY_QUERY, hit_ids=["ROCO_1"]
        )
        await threads.remember_thread(
            s, thread_id=4, channel_id=2, guild_id=3, command="ask", query=YOUR_QUERY, hit_ids=["ROCO_4"]
        )
        for user, thread_id in ((ME, 1), (YOU, 4)):
            await turns.add_turn(
                s, thread_id=1, user_id=user, question="?", answer="!", cited_ids=[], grounded=False
            )
            await jobs.save_job(
                s, job_id=f"job{user % 1000}", user_id=user, kind="search", request={"q": "x"}, thread_id=thread_id
            )
            await cards.review(
                s, user_id=user, atlas_id="ROCO_2", rating=Rating.Good, source="review", now=NOW
            )
        quiz = await quizzes.start_quiz(
            s, thread_id=1, guild_id=3, starter_id=ME, kind="caption", modality=None, question_count=2
        )
        question = await quizzes.add_question(
            s, quiz.id, position=0, atlas_id="ROCO_1", modality="ct", choices=[{"text": "a"}, {"text": "b"}],
            answer_index=0, deadline=None,
        )  # fmt: skip
        await answers.record_answer(s, question.id, ME, 0)
        await answers.record_answer(s, question.id, YOU, 1)
        second = await quizzes.add_question(
            s, quiz.id, position=1, atlas_id="ROCO_3", modality="ct", choices=[{"text": "a"}, {"text": "b"}],
            answer_index=0, deadline=None,
        )  # fmt: skip
        await answers.record_hint(s, second.id, ME, 1)  # an open question with my hint on it
        for user in (ME, YOU):  # both reported the first question as unfair
            await reports.add_report(
                s, guild_id=3, atlas_id="ROCO_1", question_id=question.id, user_id=user,
                reason=ReportReason.TWO_ANSWERS, is_moderator=False,
            )  # fmt: skip
    async with db.session() as s:
        await settle.settle_question(s, question.id, now=NOW)


async def test_forget_me_deletes_every_row_about_the_user_and_nothing_else(db: Database):
    await _a_bit_of_everything(db)
    before_me, before_you = await _rows_naming(db, ME), await _rows_naming(db, YOU)
    assert all(before_me[t] > 0 for t in before_me), before_me  # the test covers every table naming users
    async with db.session() as s:
        counted = await people.count_user_rows(s, ME)
    async with db.session() as s:
        deleted = await people.forget_user(s, ME)
    assert deleted == counted
    assert deleted == {
        "player_answers": 2, "score_events": 1, "review_log": 2, "review_cards": 2, "turns": 1, "jobs": 1,
        "thread_queries": 1, "quizzes_started": 1, "sets_owned": 0, "reports": 1,
    }  # fmt: skip
    assert set(deleted) - {"quizzes_started", "thread_queries", "sets_owned"} | {"quizzes"} == set(before_me)
    # queried straight from the tables: nothing names me any more
    assert await _rows_naming(db, ME) == dict.fromkeys(before_me, 0)
    # the other player keeps everything, the quiz and the thread stay
    assert await _rows_naming(db, YOU) == before_you
    async with db.session() as s:
        quiz = await quizzes.running_quiz(s, 1)
        assert quiz is not None and quiz.starter_id is None
        assert [
            a.user_id
            for a in await answers.question_answers(s, (await quizzes.quiz_questions(s, quiz.id))[0].id)
        ] == [YOU]
        # the thread I asked in stays with its hits for the others' follow-ups, without my query text
        mine, yours = await threads.get_thread(s, 1), await threads.get_thread(s, 4)
        assert mine is not None and mine.query == "" and mine.hit_ids == ["ROCO_1"]
        assert yours is not None and yours.query == YOUR_QUERY
        assert await people.count_user_rows(s, ME) == dict.fromkeys(counted, 0)
    assert MY_QUERY not in await _every_value(db) and YOUR_QUERY in await _every_value(db)


def test_forget_me_knows_every_table_that_names_a_user():
    naming = {
        t.name for t in Base.metadata.sorted_tables
        if any(c.name in ("user_id", "starter_id", "owner_id") for c in t.c)
    }
    assert naming == {m.__tablename__ for m in people.USER_ROWS} | {"quizzes", "study_sets"}
    # and no other column could hold a person: only ids of Discord places and atlas items
    for table in Base.metadata.sorted_tables:
        for column in inspect(table).c:
            assert not any(word in column.name for word in ("name", "email", "avatar", "nick", "ip")), column


async def test_a_rating_click_on_a_card_forget_me_deleted_finds_no_card_and_changes_nothing(db: Database):
    await _a_bit_of_everything(db)
    async with db.session() as s:
        (my_card,) = [c for c in await cards.due_cards(s, ME, now=NOW + timedelta(days=3650)) if c.atlas_id == "ROCO_2"]
        card_id = my_card.id
    async with db.session() as s:
        await people.forget_user(s, ME)
    before = await _every_value(db)
    async with db.session() as s:
        assert await s.get(Card, card_id) is None  # what the review click looks up first: "gone"
        assert await cards.get_card(s, ME, "ROCO_2") is None  # what a reveal's re-rate looks up
        with pytest.raises(LookupError):
            await cards.rerate(s, user_id=ME, card_id=card_id, rating=Rating.Easy)
    assert await _every_value(db) == before
    assert (await _rows_naming(db, ME))["review_cards"] == 0
