"""Reports, on SQLite and PostgreSQL: one per server, item and student (a second is idempotent); one
moderator or two students retire an item in that server only; `/mirage reports` lists them; forget-me
removes a student's reports; and revision 0005 upgrades a database at 0004 with a quiz in it."""

from __future__ import annotations

from datetime import timedelta

from bot.rules.quiz_fair import ReportReason
from bot.store import Database, open_url, people, quizzes, reports
from bot.store.schema import current_revision

from .conftest import NOW
from .old_revisions import old_database_with_a_quiz

GUILD, OTHER_GUILD = 6001, 6002


async def _report(db: Database, user: int, atlas_id: str = "ROCO_1", *, guild: int | None = GUILD,
                  reason: ReportReason = ReportReason.TWO_ANSWERS, moderator: bool = False, minutes: int = 0):  # noqa: ANN202
    async with db.session() as s:
        return await reports.add_report(
            s, guild_id=guild, atlas_id=atlas_id, question_id=90 + user, user_id=user, reason=reason,
            is_moderator=moderator, now=NOW + timedelta(minutes=minutes),
        )  # fmt: skip


async def _retired(db: Database, guild: int | None = GUILD) -> set[str]:
    async with db.session() as s:
        return await reports.retired_items(s, guild)


async def test_two_students_retire_an_item_in_their_server_only(db: Database):
    first = await _report(db, 1)
    assert (first.created, first.reason, first.retired) == (True, ReportReason.TWO_ANSWERS, False)
    assert await _retired(db) == set()
    second = await _report(db, 2, reason=ReportReason.WRONG_ANSWER)
    assert (second.created, second.retired) == (True, True)
    assert await _retired(db) == {"ROCO_1"}
    assert await _retired(db, OTHER_GUILD) == set(), "another server still asks it"
    assert await _retired(db, None) == set()


async def test_a_second_report_by_the_same_student_changes_nothing(db: Database):
    await _report(db, 1, reason=ReportReason.BAD_IMAGE)
    again = await _report(db, 1, reason=ReportReason.OTHER, minutes=5)
    assert (again.created, again.reason, again.retired) == (False, ReportReason.BAD_IMAGE, False)
    assert await _retired(db) == set(), "one student twice is not two students"
    async with db.session() as s:
        items, total = await reports.server_reports(s, GUILD)
    assert total == 1 and items[0].students == 1 and items[0].reasons == {ReportReason.BAD_IMAGE: 1}


async def test_one_moderator_retires_an_item(db: Database):
    outcome = await _report(db, 9, "ROCO_7", moderator=True)
    assert outcome.retired and await _retired(db) == {"ROCO_7"}


async def test_reports_in_direct_messages_are_kept_apart_from_every_server(db: Database):
    await _report(db, 1, guild=None)
    await _report(db, 2, guild=None)
    assert await _retired(db, None) == {"ROCO_1"}
    assert await _retired(db) == set()


async def test_the_list_is_per_item_newest_first_with_counts_and_reasons(db: Database):
    await _report(db, 1, "ROCO_1", minutes=1)
    await _report(db, 2, "ROCO_1", reason=ReportReason.WRONG_ANSWER, minutes=2)
    await _report(db, 3, "ROCO_2", moderator=True, minutes=3)
    await _report(db, 4, "ROCO_3", minutes=4, guild=OTHER_GUILD)
    async with db.session() as s:
        items, total = await reports.server_reports(s, GUILD)
        limited, _ = await reports.server_reports(s, GUILD, limit=1)
    assert total == 2 and [i.atlas_id for i in items] == ["ROCO_2", "ROCO_1"]
    roco_1 = items[1]
    assert (roco_1.students, roco_1.moderators, roco_1.retired) == (2, 0, True)
    assert roco_1.reasons == {ReportReason.WRONG_ANSWER: 1, ReportReason.TWO_ANSWERS: 1}
    assert roco_1.last_at == NOW + timedelta(minutes=2) and roco_1.last_question_id == 92
    assert (items[0].moderators, items[0].students, items[0].retired) == (1, 0, True)
    assert [i.atlas_id for i in limited] == ["ROCO_2"]


async def test_forget_me_removes_a_students_reports(db: Database):
    await _report(db, 1)
    await _report(db, 2)
    async with db.session() as s:
        counts = await people.forget_user(s, 2)
    assert counts["reports"] == 1
    assert await _retired(db) == set(), "one student's report is left"


async def test_revision_4_with_a_quiz_is_upgraded_and_reports_and_pools_work(database_url: str):
    # 1. a database at 0004 (the study sets' revision) with a running quiz and a question in it
    await old_database_with_a_quiz(database_url, "0004", '[{"text": "a"}, {"text": "b"}]')
    # 2. this MIRAGE starts: the old quiz has no pool, the question is intact and can be reported
    db = await open_url(database_url)
    try:
        assert await current_revision(db.engine) == "0005"
        async with db.session() as s:
            quiz = await quizzes.get_quiz(s, 5)
            assert (quiz.kind, quiz.modality, quiz.topic, quiz.concept) == ("caption", "ct", None, None)
            question = await quizzes.get_question(s, 9)
            assert (question.atlas_id, question.choices) == ("ROCO_00042", [{"text": "a"}, {"text": "b"}])
            outcome = await reports.add_report(
                s, guild_id=quiz.guild_id, atlas_id=question.atlas_id, question_id=9, user_id=3,
                reason=ReportReason.WRONG_ANSWER, is_moderator=True, now=NOW,
            )  # fmt: skip
            assert outcome.created and outcome.retired
            topical = await quizzes.start_quiz(
                s, thread_id=51, guild_id=1, starter_id=7, kind="caption", modality=None, question_count=3,
                topic="pneumothorax", now=NOW,
            )  # fmt: skip
        async with db.session() as s:
            assert (await quizzes.get_quiz(s, topical.id)).topic == "pneumothorax"
            assert await reports.retired_items(s, 1) == {"ROCO_00042"}
    finally:
        await db.close()
