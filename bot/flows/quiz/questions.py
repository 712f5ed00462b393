"""Asking a question: one from the engine, saved with its deadline, posted as the case image with
lettered choices and A–E / Hint / Stop buttons; and greying those buttons out once it is revealed.

What happens when the question's timer rings is the caller's (`reveal.py` passes its reveal): this
module only arms the timer, so asking never needs to know about revealing.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import discord

from engine.contract import QuizResponse

from ...render import quiz as render
from ...rules.quiz import Choice, QuestionPlay
from ...rules.quiz_fair import QuizPool, points_ladder
from ...store import quizzes
from ...store.models import utcnow
from ...ui.quiz_views import question_view
from .live import NO_MENTIONS, LiveQuiz, QuizContext
from .payload import AskedQuestion
from .pool import fresh_question

log = logging.getLogger(__name__)

async def fetch_question(
    qc: QuizContext,
    kind: str,
    modality: str | None,
    used: set[str],
    *,
    topic: str | None = None,
    concept: str | None = None,
    guild_id: int | None = None,
) -> QuizResponse:
    """A question from the engine's pool (modality, topic or concept), on an image this quiz has not shown
    yet when possible and never on one reports retired in this server (`pool.py`)."""
    return await fresh_question(qc, QuizPool(kind, modality, topic, concept), used, guild_id)


async def post_question(
    qc: QuizContext, live: LiveQuiz, response: QuizResponse, on_timeout: Callable[[int], Coroutine[Any, Any, None]]
) -> None:
    """Save and post the next question, and arm its timer to call `on_timeout(question_id)` (the caller
    holds `live.lock`)."""
    # 1. the case image, re-encoded so nothing in it gives the answer away (off the event loop)
    position = live.position + 1
    raw = await qc.engine.fetch_image(response.image_url)
    png = await asyncio.to_thread(render.case_png, raw)
    # 2. the question's row: its choices, answer, deadline, and what it asked (for a restart)
    deadline = utcnow() + timedelta(seconds=qc.reveal_s)
    asked = AskedQuestion.from_response(response)
    choices = [
        Choice(c.text, c.full_text, c.id, c.source.model_dump() if c.source else None, c.image_url)
        for c in response.choices
    ]
    async with qc.db.session() as session:
        question = await quizzes.add_question(
            session,
            live.quiz_id,
            position=position - 1,
            atlas_id=response.item.id,
            modality=response.item.modality,
            choices=[choice.to_json() for choice in choices],
            answer_index=response.answer,
            deadline=deadline,
            payload=asked.to_payload(),
        )
    live.position, live.question_id, live.asked = position, question.id, asked
    live.play = QuestionPlay(len(choices))
    live.used.add(response.item.id)
    # 3. the timer, before sending: the deadline is in the database already
    question_id = question.id
    qc.quizzes.arm_timer(live, deadline, lambda: on_timeout(question_id))
    # 4. the message
    card = render.QuestionCard(
        position, live.total, response.question, [c.full_text for c in choices], qc.reveal_s, live.solo,
        points_ladder(response.points_by_hints, len(response.hints)),
    )  # fmt: skip
    message = await qc.quizzes.channel(live).send(
        render.question_text(card),
        file=discord.File(io.BytesIO(png), render.case_filename(position)),
        view=question_view(live.quiz_id, question.id, len(choices), seed=response.seed),
        allowed_mentions=NO_MENTIONS,
    )
    live.message_id = message.id


async def disable_buttons(qc: QuizContext, live: LiveQuiz, n_choices: int) -> None:
    """Grey out the current question's buttons (one edit per question, never per click)."""
    if live.message_id is None or live.question_id is None:
        return
    view = question_view(live.quiz_id, live.question_id, n_choices, seed=0, disabled=True)
    try:
        await qc.quizzes.channel(live).get_partial_message(live.message_id).edit(view=view)
    except discord.HTTPException:
        log.info("could not disable the buttons of question %s", live.question_id, exc_info=True)
