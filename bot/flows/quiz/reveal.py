"""A question's end and what follows: the reveal (settled once in the store: points and review cards),
then the next question or the final scoreboard; a quiz that cannot go on ends with a reason.

The course of a quiz, question after question, is `ask_next → (timer or last answer) → reveal →
advance → ask_next …`; every step here runs with the quiz's lock held, so a timer and a last click
racing reveal a question once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import discord

from engine.contract import Hit, QuizResponse

from ...engine_client import EngineError
from ...render import quiz as render
from ...render.text import friendly_error
from ...rules.quiz import Choice, QuizState, letter
from ...store import quizzes, scores
from ...store.errors import DatabaseUnavailable
from ...store.models import Question, Quiz, utcnow
from ...store.settle import settle_question
from ...ui.teach_views import reveal_view
from ..sets.asking import set_question
from .live import NO_MENTIONS, LiveQuiz, QuizContext
from .questions import disable_buttons, fetch_question, post_question
from .recap import post_recap
from .reveal_sheet import captions, contact_sheet, remember_images

log = logging.getLogger(__name__)

DB_RETRY_S = 2.0  # a reveal the database refused is tried again this much later


async def ask_next(qc: QuizContext, live: LiveQuiz, response: QuizResponse) -> None:
    """Post `response` as the quiz's next question, revealed when its timer rings (the caller holds the lock)."""
    await post_question(qc, live, response, lambda question_id: reveal(qc, live, question_id))


async def reveal(qc: QuizContext, live: LiveQuiz, question_id: int, note: str | None = None) -> None:
    """Settle and show one question, then go on (a second caller for the same question does nothing)."""
    async with live.lock:
        if live.ended or live.question_id != question_id or not live.open:
            return
        assert live.play is not None
        # 1. no more clicks; the timer, if another caller got here first, is not needed any more
        live.play.close()
        live.stop_timer()
        # 2. the store settles the question once: points, review cards, the scoreboard
        try:
            async with qc.db.session() as session:
                settlement = await settle_question(session, question_id)
        except DatabaseUnavailable:
            live.play.revealed = False  # try again shortly; the answers are safe in the database
            qc.quizzes.arm_timer(
                live, utcnow() + timedelta(seconds=DB_RETRY_S), lambda: reveal(qc, live, question_id, note)
            )
            return
        if settlement is None:
            return
        # 3. the reveal message, under it the buttons to rate the case for one's own review
        question = settlement.question
        live.joined |= {r.user_id for r in settlement.results}
        right = Choice.from_json(question.choices[question.answer_index])
        card = render.RevealCard(
            live.position, live.total, question.answer_index, right.full_text, await _item(qc, live, question),
            settlement.results, settlement.scoreboard, note, fallback_id=question.atlas_id,
        )  # fmt: skip
        # every choice's image on one contact sheet, and every caption in full below it (caption questions)
        sheet, below = await contact_sheet(qc, question), captions(question)
        view = reveal_view(question_id, letter(question.answer_index), why=bool(below))
        try:
            channel = qc.quizzes.channel(live)
            extra = {"file": sheet} if sheet is not None else {}
            await channel.send(render.reveal_text(card), view=view, allowed_mentions=NO_MENTIONS, **extra)
            for text in below:
                await channel.send(text, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:  # e.g. the thread was deleted: the answers are scored anyway
            await abandon(qc, live, error)
            return
        # 4. the thread answers follow-ups on these images; grey the question's buttons out, then go on
        await remember_images(qc, live, question)
        await disable_buttons(qc, live, len(question.choices))
        await advance(qc, live)


async def _item(qc: QuizContext, live: LiveQuiz, question: Question) -> Hit | None:
    """The asked image's caption and source: held since it was asked (or read from its row after a
    restart), else from the engine's atlas."""
    if live.asked is not None and live.asked.item.id == question.atlas_id:
        return live.asked.item
    try:
        return await qc.engine.atlas_item(question.atlas_id)
    except EngineError:
        log.warning("could not fetch atlas item %s for a reveal", question.atlas_id, exc_info=True)
        return None


async def advance(qc: QuizContext, live: LiveQuiz) -> None:
    """The next question, or the end (the caller holds `live.lock`)."""
    if live.position >= live.total:
        await end(qc, live, stopped_by=None)
        return
    try:  # a quiz over a study set asks the set's next image (bot/flows/sets/asking.py)
        from_set = await set_question(qc, live)
        if from_set is not None:
            await ask_next(qc, live, from_set)
            return
    except (EngineError, discord.HTTPException) as error:
        await abandon(qc, live, error)
        return
    try:
        following = await fetch_question(
            qc, live.kind, live.modality, live.used, topic=live.topic, concept=live.concept, guild_id=live.guild_id
        )
        await ask_next(qc, live, following)
    except (EngineError, discord.HTTPException) as error:
        await abandon(qc, live, error)


async def advance_locked(qc: QuizContext, live: LiveQuiz) -> None:
    """`advance`, taking the quiz's lock (for a quiz resumed between a reveal and its next question)."""
    async with live.lock:
        await advance(qc, live)


async def end(
    qc: QuizContext, live: LiveQuiz, *, stopped_by: int | None, state: QuizState = QuizState.FINISHED
) -> bool:
    """Mark the quiz over and post the final scoreboard; False when it had already ended."""
    # A stopped quiz's open question is closed unscored; count only the revealed ones.
    revealed = live.position - int(live.open)
    async with qc.db.session() as session:
        ended = await quizzes.finish_quiz(session, live.quiz_id, state=state)
        board = await scores.quiz_scoreboard(session, live.quiz_id)
    live.ended = True
    if live.play is not None:
        live.play.close()
    live.stop_timer()
    qc.quizzes.by_id.pop(live.quiz_id, None)
    if not ended:
        return False
    text = render.final_text(board, answered=revealed, total=live.total, stopped_by=stopped_by)
    await qc.quizzes.channel(live).send(text, allowed_mentions=NO_MENTIONS)
    await post_recap(qc, live)
    return True


async def begin(qc: QuizContext, quiz: Quiz, first: QuizResponse) -> None:
    """A quiz just saved: held in memory, its first question asked, or the quiz ended with the reason."""
    live = LiveQuiz.from_row(quiz)
    qc.quizzes.by_id[quiz.id] = live
    async with live.lock:
        try:
            await ask_next(qc, live, first)
        except (EngineError, discord.HTTPException) as error:
            await abandon(qc, live, error)


async def abandon(qc: QuizContext, live: LiveQuiz, error: Exception) -> None:
    """A question could not be fetched or posted: end the quiz (never leave it running) and say why."""
    log.warning("quiz %s ends early: %s", live.quiz_id, error)
    why = friendly_error(error) if isinstance(error, EngineError) else render.DISCORD_REFUSED
    try:
        await qc.quizzes.channel(live).send(render.cannot_go_on(why))
    except discord.HTTPException:
        log.info("could not post to quiz thread %s either", live.thread_id)
    try:
        await end(qc, live, stopped_by=None)
    except discord.HTTPException:
        log.info("could not post the final scoreboard of quiz %s", live.quiz_id)
