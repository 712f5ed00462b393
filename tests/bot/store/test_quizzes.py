"""Quizzes: one running per thread (also when two starts race), questions in order, reveal once,
finish, and what a restarted bot finds to resume."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.store import Database, QuizAlreadyRunning, quizzes

from .conftest import NOW

THREAD, GUILD, STARTER = 5001, 6001, 7001
CHOICES = [
    {"text": "CT of the chest", "id": "ROCO_1"},
    {"text": "MRI of the knee", "id": "ROCO_2"},
    {"text": "US"},
]


async def _start(db: Database, thread_id: int = THREAD, **kw) -> int:  # noqa: ANN003
    async with db.session() as s:
        values = {
            "guild_id": GUILD,
            "starter_id": STARTER,
            "kind": "caption",
            "modality": "ct",
            "question_count": 3,
        }
        quiz = await quizzes.start_quiz(s, thread_id=thread_id, now=NOW, **(values | kw))
        return quiz.id


async def test_a_quiz_runs_its_questions_in_order_and_finishes(db: Database):
    quiz_id = await _start(db)
    async with db.session() as s:
        for position in range(2):
            await quizzes.add_question(
                s, quiz_id, position=position, atlas_id=f"ROCO_{position}", modality="ct", choices=CHOICES,
                answer_index=position, deadline=NOW + timedelta(seconds=45 * (position + 1)),
            )  # fmt: skip
    async with db.session() as s:
        quiz = await quizzes.get_quiz(s, quiz_id)
        assert (quiz.state, quiz.kind, quiz.modality, quiz.question_count, quiz.starter_id) == (
            "running", "caption", "ct", 3, STARTER,
        )  # fmt: skip
        assert quiz.deadline == NOW + timedelta(seconds=90)  # the timer follows the current question
        questions = await quizzes.quiz_questions(s, quiz_id)
        assert [(q.position, q.atlas_id, q.answer_index, q.state) for q in questions] == [
            (0, "ROCO_0", 0, "open"), (1, "ROCO_1", 1, "open"),
        ]  # fmt: skip
        assert questions[0].choices == CHOICES
    async with db.session() as s:
        assert await quizzes.finish_quiz(s, quiz_id, now=NOW + timedelta(minutes=2))
        assert not await quizzes.finish_quiz(s, quiz_id)  # only once
    async with db.session() as s:
        quiz = await quizzes.get_quiz(s, quiz_id)
        assert (quiz.state, quiz.finished_at, quiz.deadline) == ("finished", NOW + timedelta(minutes=2), None)
        assert {q.state for q in await quizzes.quiz_questions(s, quiz_id)} == {"revealed"}
        assert await quizzes.running_quiz(s, THREAD) is None


async def test_a_second_quiz_in_the_same_thread_is_refused_naming_the_running_one(db: Database):
    first = await _start(db)
    with pytest.raises(QuizAlreadyRunning) as refused:
        await _start(db)
    assert refused.value.quiz_id == first
    other_thread = await _start(db, thread_id=THREAD + 1)  # another thread is fine
    assert other_thread != first
    async with db.session() as s:
        await quizzes.finish_quiz(s, first, state="stopped")
    again = await _start(db)  # once it stopped, a new one may start
    async with db.session() as s:
        assert (await quizzes.running_quiz(s, THREAD)).id == again
        assert (await quizzes.get_quiz(s, first)).state == "stopped"


async def test_two_starts_at_the_same_moment_give_exactly_one_quiz(db: Database):
    outcomes = await asyncio.gather(*(_start(db) for _ in range(6)), return_exceptions=True)
    started = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, QuizAlreadyRunning)]
    assert len(started) == 1 and len(refused) == 5, outcomes
    assert {r.quiz_id for r in refused} <= {started[0], 0}


async def test_a_question_is_revealed_by_one_caller_only(db: Database):
    quiz_id = await _start(db)
    async with db.session() as s:
        question = await quizzes.add_question(
            s,
            quiz_id,
            position=0,
            atlas_id="ROCO_1",
            modality="ct",
            choices=CHOICES,
            answer_index=0,
            deadline=NOW,
        )
    async with db.session() as s:
        assert await quizzes.reveal_question(s, question.id, NOW)
        assert not await quizzes.reveal_question(s, question.id, NOW)
    async with db.session() as s:
        revealed = await quizzes.get_question(s, question.id)
        assert (revealed.state, revealed.revealed_at) == ("revealed", NOW)


async def test_after_a_restart_the_running_quizzes_and_open_questions_are_found(db: Database):
    running = await _start(db)
    done = await _start(db, thread_id=THREAD + 1)
    async with db.session() as s:
        q_open = await quizzes.add_question(
            s, running, position=0, atlas_id="A", modality=None, choices=CHOICES, answer_index=2,
            deadline=NOW + timedelta(seconds=30),
        )  # fmt: skip
        await quizzes.add_question(
            s, done, position=0, atlas_id="B", modality=None, choices=CHOICES, answer_index=1, deadline=NOW
        )
        await quizzes.finish_quiz(s, done)
    async with db.session() as s:  # a new process: nothing in memory
        assert [q.id for q in await quizzes.running_quizzes(s)] == [running]
        (question,) = await quizzes.open_questions(s)
        assert (question.id, question.deadline) == (q_open.id, NOW + timedelta(seconds=30))


async def test_bad_quiz_values_are_refused_naming_the_field(db: Database):
    with pytest.raises(ValueError, match="kind must be one of caption, modality"):
        await _start(db, kind="essay")
    with pytest.raises(ValueError, match="question_count must be ≥ 1"):
        await _start(db, question_count=0)
    quiz_id = await _start(db)
    async with db.session() as s:
        with pytest.raises(ValueError, match="answer_index must be 0–2"):
            await quizzes.add_question(
                s,
                quiz_id,
                position=0,
                atlas_id="A",
                modality=None,
                choices=CHOICES,
                answer_index=3,
                deadline=None,
            )
