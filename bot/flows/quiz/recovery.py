"""After a restart: every running quiz is picked up from the database. Open questions get their timers
back, or are revealed at once (with a note) when their timer ran out meanwhile; a quiz stopped between a
reveal and its next question goes on. A click on a quiz not in memory loads it the same way, once,
however many clicks ask at the same moment.

Hints and the reveal's caption come from the question's row (`payload.py`), so they need no engine.
"""

from __future__ import annotations

import asyncio
import logging

from ...render.quiz import RESTART_NOTE
from ...rules.quiz import QuestionPlay, QuestionState, QuizState
from ...store import answers, quizzes, scores
from ...store.errors import DatabaseUnavailable
from ...store.models import Quiz, utcnow
from .live import LiveQuiz, QuizContext
from .payload import AskedQuestion
from .reveal import advance_locked, reveal

log = logging.getLogger(__name__)


async def resume(qc: QuizContext) -> None:
    """Pick up every running quiz: re-arm timers, reveal overdue questions, or go on to the next."""
    try:
        async with qc.db.session() as session:
            running = await quizzes.running_quizzes(session)
    except DatabaseUnavailable:
        log.error("could not resume quizzes: the database is unavailable")
        return
    for quiz in running:
        if quiz.id not in qc.quizzes.by_id:
            await load(qc, quiz)


async def live_for(qc: QuizContext, question_id: int) -> LiveQuiz | None:
    """The live quiz whose current question this is; loaded from the database when not in memory. None
    when the question is not open (revealed, stopped, or unknown)."""
    live = qc.quizzes.playing(question_id)
    if live is not None:
        return live
    async with qc.db.session() as session:
        question = await quizzes.get_question(session, question_id)
        quiz = await quizzes.get_quiz(session, question.quiz_id) if question else None
    if question is None or quiz is None or quiz.state != QuizState.RUNNING or question.state != QuestionState.OPEN:
        return None
    live = qc.quizzes.by_id.get(quiz.id) or await load(qc, quiz)
    return live if live is not None and live.question_id == question_id else None


async def load(qc: QuizContext, quiz: Quiz) -> LiveQuiz | None:
    """Rebuild a running quiz from the database once, however many clicks ask for it at the same time."""
    pending = qc.quizzes.loading.get(quiz.id)
    if pending is not None:
        return await asyncio.shield(pending)
    future: asyncio.Future[LiveQuiz | None] = asyncio.get_running_loop().create_future()
    qc.quizzes.loading[quiz.id] = future
    try:
        live = await _rebuild(qc, quiz)
        future.set_result(live)
        return live
    except BaseException as error:
        future.set_exception(error)
        future.exception()  # retrieved: nobody else may be waiting
        raise
    finally:
        qc.quizzes.loading.pop(quiz.id, None)


async def _rebuild(qc: QuizContext, quiz: Quiz) -> LiveQuiz:
    """The quiz's players, asked images and open question from its rows; its timer re-armed."""
    # 1. what the database remembers
    async with qc.db.session() as session:
        questions = await quizzes.quiz_questions(session, quiz.id)
        board = await scores.quiz_scoreboard(session, quiz.id)
        open_question = next((q for q in questions if q.state == QuestionState.OPEN), None)
        rows = await answers.question_answers(session, open_question.id) if open_question else []
    live = LiveQuiz.from_row(quiz)
    live.joined = {s.user_id for s in board}
    live.used = {q.atlas_id for q in questions}
    qc.quizzes.by_id[quiz.id] = live
    # 2. stopped between a reveal and the next question: go on
    if open_question is None:
        live.position = len(questions)
        qc.quizzes.spawn(advance_locked(qc, live))
        return live
    # 3. the open question: its play as the answer rows hold it, its timer (or an overdue reveal)
    live.position, live.question_id = open_question.position + 1, open_question.id
    live.asked = AskedQuestion.from_payload(open_question.payload)
    live.play = QuestionPlay(len(open_question.choices))
    for row in rows:
        if row.choice is not None:
            live.play.choices[row.user_id] = row.choice
        if row.hint_level:
            live.play.hints[row.user_id] = row.hint_level
    deadline = open_question.deadline or utcnow()
    overdue = deadline <= utcnow()
    note = RESTART_NOTE if overdue else None
    question_id = open_question.id
    qc.quizzes.arm_timer(live, deadline, lambda: reveal(qc, live, question_id, note))
    log.info("resumed quiz %s at question %d (%s)", quiz.id, live.position, "overdue" if overdue else "timer re-armed")
    return live
