"""What a reveal adds to teach: the contact sheet (every choice's atlas image, labelled, the right one
marked; fetched together, drawn off the event loop), every caption in full, and the quiz thread made an
answer thread on its images, so "Why C?", an @mention or a follow-up there is grounded in them.

Everything here is best effort: a reveal never waits long for it, nor fails because of it.
"""

from __future__ import annotations

import asyncio
import io
import logging

import discord

from ...engine_client import EngineError
from ...render import teach
from ...render.contact_sheet import FILENAME, Panel, contact_sheet_png
from ...rules.quiz import Choice, letter
from ...store import DatabaseUnavailable, threads
from ...store.models import Question
from .live import LiveQuiz, QuizContext

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 15.0  # the images of one sheet, all together


def choices_of(question: Question) -> list[Choice]:
    """The question's choices as typed choices."""
    return [Choice.from_json(c) for c in question.choices]


async def _image(qc: QuizContext, choice: Choice) -> bytes | None:
    try:
        if choice.image_url:
            return await qc.engine.fetch_image(choice.image_url)
        return await qc.engine.atlas_image(choice.atlas_id) if choice.atlas_id else None
    except EngineError:
        log.info("no image for choice %s of a contact sheet", choice.atlas_id, exc_info=True)
        return None


async def contact_sheet(qc: QuizContext, question: Question) -> discord.File | None:
    """The contact sheet of a caption question's choices, or None (a modality question, or no image at all)."""
    choices = choices_of(question)
    if not all(c.atlas_id for c in choices):
        return None
    try:
        async with asyncio.timeout(FETCH_TIMEOUT_S):
            images = await asyncio.gather(*(_image(qc, c) for c in choices))
    except TimeoutError:
        log.warning(
            "the images of question %s took too long; revealing without the contact sheet", question.id
        )
        return None
    if not any(images):
        return None
    panels = [
        Panel(letter(i), image, teach.source_text(c.source, c.atlas_id), right=i == question.answer_index)
        for i, (c, image) in enumerate(zip(choices, images, strict=True))
    ]
    png = await asyncio.to_thread(contact_sheet_png, panels)
    return discord.File(io.BytesIO(png), FILENAME, description="Every choice's image, the right one marked")


def captions(question: Question) -> list[str]:
    """Every choice's caption in full with its source (caption questions), as messages to post."""
    choices = choices_of(question)
    return teach.choice_captions(choices, question.answer_index) if all(c.atlas_id for c in choices) else []


async def remember_images(qc: QuizContext, live: LiveQuiz, question: Question) -> None:
    """Make the quiz thread an answer thread on the images revealed so far (the newest question's first,
    its asked image leading)."""
    choices = choices_of(question)
    ids = [
        question.atlas_id,
        *(c.atlas_id for c in choices if c.atlas_id and c.atlas_id != question.atlas_id),
    ]
    if live.solo:
        return  # a DM is no thread to follow up in
    try:
        async with qc.db.session() as session:
            known = await threads.get_thread(session, live.thread_id)
            earlier = [i for i in (known.hit_ids if known else []) if i not in ids]
            # the newest reveal's images first: a follow-up is grounded in the first ASK_CONTEXT_MAX
            await threads.remember_thread(
                session, thread_id=live.thread_id, channel_id=live.thread_id, guild_id=live.guild_id,
                command="quiz", query=f"{live.kind} quiz", hit_ids=[*ids, *earlier],
            )  # fmt: skip
    except DatabaseUnavailable:
        log.warning(
            "quiz thread %s not remembered as an answer thread (database unavailable)", live.thread_id
        )
