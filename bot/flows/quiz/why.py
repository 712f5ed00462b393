""" "Why C?" under a reveal: a grounded answer on what tells the right image apart from the others.

1. read the question (gone → say so privately; not yet revealed → never give the answer away);
2. ask the engine, through the ask flow (a job like any other: fair queue, streamed words, checked
   citations, the thread's earlier turns), on the question's choices in letter order, so [1]…[k] are
   A…; the answer goes to the quiz thread, where it is remembered as a turn for follow-ups.
Works after the quiz ended, as long as the question is stored.
"""

from __future__ import annotations

from typing import Any

import discord

from ...errors import DB_BUSY
from ...render import teach
from ...render import text as render_text
from ...requests import WhyChoice
from ...rules.quiz import QuestionState, letter
from ...store import DatabaseUnavailable, quizzes
from .. import ask, memory
from ..context import Context
from ..run import run_job
from .reveal_sheet import choices_of


async def why(interaction: discord.Interaction[Any], ctx: Context, request: WhyChoice) -> None:
    """Steps 1–2 for one click."""
    # 1. the question, revealed, with a caption per choice
    if ctx.db is None:
        await interaction.response.send_message(DB_BUSY, ephemeral=True)
        return
    try:
        async with ctx.db.session() as session:
            question = await quizzes.get_question(session, request.question_id)
        history = await memory.thread_history(ctx, interaction.channel_id or 0, last=ask.HISTORY_TURNS)
    except DatabaseUnavailable:
        await interaction.response.send_message(DB_BUSY, ephemeral=True)
        return
    refusal = None
    if question is None:
        refusal = teach.QUESTION_GONE
    elif question.state != QuestionState.REVEALED:
        refusal = teach.NOT_REVEALED
    elif not all(c.atlas_id for c in choices_of(question)):
        refusal = teach.NO_WHY_FOR_MODALITY
    if refusal is not None or question is None:
        await interaction.response.send_message(refusal or teach.QUESTION_GONE, ephemeral=True)
        return
    # 2. the grounded answer, in the quiz thread
    ids = [c.atlas_id for c in choices_of(question) if c.atlas_id]
    asked = teach.why_question(letter(question.answer_index), len(ids))
    work = ask.answer_work(ctx, interaction.user.id, asked, ids, history)
    await run_job(
        interaction, ctx, label="ask", header=render_text.follow_up_header(asked),
        thread_name=render_text.thread_name("Why", asked), work=work,
        record={"question": asked, "thread_id": interaction.channel_id, "quiz_question_id": question.id},
    )  # fmt: skip
