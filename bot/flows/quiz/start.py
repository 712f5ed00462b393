"""/mirage quiz: check the place, ask the engine for the first question (its errors, e.g. a modality with
too few images, reach the user before any thread is opened), open the thread, save the quiz, ask.

The group's interaction_check has applied the server's channel and role limits already.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from ...engine_client import EngineError
from ...render import quiz as render
from ...render import quiz_fair as fair
from ...render.text import friendly_error
from ...requests import StartQuiz
from ...rules.quiz_fair import QuizPool, normalised, pool_problem
from ...store import quizzes
from ...store.errors import QuizAlreadyRunning
from ...threads import is_thread
from .live import NO_MENTIONS, QuizContext
from .questions import fetch_question
from .reveal import begin

log = logging.getLogger(__name__)


async def start(interaction: discord.Interaction[Any], qc: QuizContext, request: StartQuiz) -> None:
    """Open a thread (or play in this thread, or the DM) and ask the first question."""
    # 1. one running quiz per thread
    channel = interaction.channel
    in_thread = is_thread(channel)
    if in_thread and channel is not None:
        async with qc.db.session() as session:
            running = await quizzes.running_quiz(session, channel.id)
        if running is not None:
            await interaction.response.send_message(
                render.running_elsewhere(interaction.guild_id, channel.id), ephemeral=True
            )
            return
    # 2. a combination the engine would refuse (kind:modality with modality:, topic with concept, a bad
    # CUI) is refused here, privately, before anything is asked
    pool = normalised(QuizPool(request.kind, request.modality, request.topic, request.concept))
    problem = pool_problem(pool)
    if problem is not None:
        await interaction.response.send_message(fair.pool_refused(problem), ephemeral=True)
        return
    # 3. the first question before any thread: too few images is answered where it was asked
    await interaction.response.defer(thinking=True)
    try:
        first = await fetch_question(
            qc, pool.kind, pool.modality, set(), topic=pool.topic, concept=pool.concept, guild_id=interaction.guild_id
        )
    except EngineError as error:
        why = fair.too_few_items(error.message) if error.code == "too_few_items" else f"❌ {friendly_error(error)}"
        await interaction.edit_original_response(content=why)
        return
    header = render.quiz_header(request.questions, pool.kind, pool.modality, interaction.user.id)
    header += fair.pool_scope(pool.topic, pool.concept)
    await interaction.edit_original_response(content=header, allowed_mentions=NO_MENTIONS)
    # 4. where to play
    thread_id = await _open_thread(interaction, in_thread, request.modality)
    if thread_id is None:
        return
    # 5. the quiz's row (two starts in one thread at the same moment: the other won)
    try:
        async with qc.db.session() as session:
            quiz = await quizzes.start_quiz(
                session,
                thread_id=thread_id,
                guild_id=interaction.guild_id,
                starter_id=interaction.user.id,
                kind=request.kind,
                modality=request.modality,
                question_count=request.questions,
                topic=pool.topic,
                concept=pool.concept,
            )
    except QuizAlreadyRunning:
        await interaction.followup.send(render.running_elsewhere(interaction.guild_id, thread_id), ephemeral=True)
        return
    # 6. the first question
    await begin(qc, quiz, first)


async def _open_thread(interaction: discord.Interaction[Any], in_thread: bool, modality: str | None) -> int | None:
    """The thread to play in: this one, a new one on the command's message, or the DM itself."""
    channel = interaction.channel
    if channel is None:
        return None
    if in_thread or interaction.guild_id is None:
        return channel.id
    try:
        message = await interaction.original_response()
        thread = await message.create_thread(name=render.thread_name(modality), auto_archive_duration=1440)
    except discord.HTTPException:
        log.warning("could not open a quiz thread", exc_info=True)
        await interaction.edit_original_response(content=render.NEED_THREADS)
        return None
    return thread.id
