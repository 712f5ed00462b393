"""Clicks on a question: a letter (locked in, acknowledged privately, and the reveal started when everyone
who joined has answered), the Hint button (the clicker's next rung, privately), and Stop."""

from __future__ import annotations

import logging
from typing import Any

import discord

from ...engine_client import EngineError
from ...errors import DB_BUSY, say_privately
from ...render import quiz as render
from ...render import quiz_fair as fair
from ...requests import Answer, StopQuiz, TakeHint
from ...rules.quiz import QuizState
from ...rules.quiz_fair import points_ladder
from ...store import answers, quizzes
from ...store.errors import DatabaseUnavailable, QuestionClosed
from .live import LiveQuiz, QuizContext
from .payload import AskedQuestion
from .pool import quiz_request
from .questions import disable_buttons
from .recovery import live_for
from .reveal import end, reveal

log = logging.getLogger(__name__)


async def answer(interaction: discord.Interaction[Any], qc: QuizContext, request: Answer) -> None:
    """A letter was clicked: lock it in, say so privately, reveal if everyone has answered."""
    question_id = request.question_id
    live = await live_for(qc, question_id)
    if live is None or not live.open:
        await interaction.response.send_message(render.CLOSED, ephemeral=True)
        return
    # 1. the database first (batched with the other clicks of this moment), then the player hears
    try:
        recorded = await qc.quizzes.writer.record(question_id, interaction.user.id, request.choice)
    except QuestionClosed:
        await interaction.response.send_message(render.CLOSED, ephemeral=True)
        return
    except DatabaseUnavailable:
        await interaction.response.send_message(DB_BUSY, ephemeral=True)
        return
    await interaction.response.send_message(render.locked_in_text(recorded.choice, recorded.previous), ephemeral=True)
    # 2. the rules decide whether this was the last answer the question waited for
    play = live.play
    if live.question_id == question_id and play is not None and not play.revealed:
        play.lock_in(interaction.user.id, request.choice)
        if play.should_reveal(live.joined, solo=live.solo, first=live.position == 1):
            qc.quizzes.spawn(reveal(qc, live, question_id))


async def hint(interaction: discord.Interaction[Any], qc: QuizContext, request: TakeHint) -> None:
    """The Hint button: the player's next rung, privately (it costs points if they answer right)."""
    question_id = request.question_id
    live = await live_for(qc, question_id)
    if live is None or not live.open:
        await interaction.response.send_message(render.CLOSED, ephemeral=True)
        return
    hints = await _hints(interaction, qc, live, request)
    if not hints:
        await say_privately(interaction, render.NO_HINTS)
        return
    assert live.play is not None
    level = live.play.next_hint(interaction.user.id, len(hints))
    if level is None:
        await say_privately(interaction, render.no_more_hints(len(hints)))
        return
    try:
        async with qc.db.session() as session:
            reached = await answers.record_hint(session, question_id, interaction.user.id, level)
    except QuestionClosed:
        await say_privately(interaction, render.CLOSED)
        return
    live.play.took_hint(interaction.user.id, reached)
    await say_privately(interaction, _rung_text(live, reached, hints))


def _rung_text(live: LiveQuiz, level: int, hints: list[str]) -> str:
    """Rung `level` of the ladder as the student sees it: its kind (shows, strike) and the points now."""
    asked = live.asked
    ladder = asked.ladder if asked is not None and len(asked.ladder) == len(hints) else []
    points = points_ladder(asked.points_by_hints if asked is not None else None, len(hints))
    return fair.hint_text(level, len(hints), hints[level - 1], ladder[level - 1] if ladder else None, points)


async def _hints(
    interaction: discord.Interaction[Any], qc: QuizContext, live: LiveQuiz, request: TakeHint
) -> list[str]:
    """The question's hint ladder: held since it was asked (or read from its row after a restart); for
    a question asked before its row kept them, asked again from the engine with its seed."""
    question_id = request.question_id
    if live.asked is not None and live.question_id == question_id:
        return list(live.asked.hints)
    await interaction.response.defer(ephemeral=True, thinking=True)  # the engine may take a moment
    async with qc.db.session() as session:
        question = await quizzes.get_question(session, question_id)
    try:
        again = await qc.engine.quiz(quiz_request(live.pool, request.seed))
    except EngineError:
        log.warning("could not rebuild the hints of question %s", question_id, exc_info=True)
        return []
    if question is None or again.item.id != question.atlas_id:
        return []  # the atlas changed since: the seed no longer names this image
    if live.question_id == question_id:
        live.asked = AskedQuestion.from_response(again)
    return list(again.hints)


async def stop(interaction: discord.Interaction[Any], qc: QuizContext, request: StopQuiz) -> None:
    """The Stop button: only the starter or someone who may manage messages."""
    async with qc.db.session() as session:
        quiz = await quizzes.get_quiz(session, request.quiz_id)
    if quiz is None or quiz.state != QuizState.RUNNING:
        await interaction.response.send_message(render.QUIZ_ENDED, ephemeral=True)
        return
    if interaction.user.id != quiz.starter_id and not interaction.permissions.manage_messages:
        await interaction.response.send_message(render.ONLY_STARTER, ephemeral=True)
        return
    await interaction.response.send_message(render.STOPPING, ephemeral=True)
    live = qc.quizzes.by_id.get(request.quiz_id) or LiveQuiz.from_row(quiz)
    async with live.lock:
        n_choices = live.play.n_choices if live.play else 0
        if await end(qc, live, stopped_by=interaction.user.id, state=QuizState.STOPPED) and n_choices:
            await disable_buttons(qc, live, n_choices)
