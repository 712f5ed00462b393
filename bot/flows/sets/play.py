"""`/mirage set play`: the group quiz over a set's images, one question per image, in the set's order.

1. only a member of the set's server plays it (the set is looked up in the server asked from);
2. the set's ids are checked against the atlas and the engine (one request with the whole set says which
   it can ask); what is left out is said, the set itself is never changed;
3. a thread is opened, the quiz's row keeps the ids to ask, and the first question is posted; the rest
   follow the group quiz's usual reveal → next question (`asking.set_question`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import discord

from engine.contract import QuizRequest

from ...engine_client import EngineError
from ...errors import say_privately
from ...render import quiz as quiz_render
from ...render import sets as render
from ...render.text import friendly_error
from ...set_requests import SetPlay
from ...store import quizzes, sets
from ...store.errors import QuizAlreadyRunning
from ...threads import is_thread
from ..quiz.live import NO_MENTIONS, QuizContext
from ..quiz.reveal import begin
from .access import find_or_say, refuse_unless_member
from .asking import ask_item
from .atlas import in_atlas

log = logging.getLogger(__name__)

LEFT_OUT = re.compile(r"left out: (.+)$")
WHY = re.compile(r"\s*\([^()]*\)")  # an innermost parenthesis: a reason, commas and all


def left_out_by_engine(notes: list[str]) -> list[str]:
    """The ids the engine's notes name as left out of an `item_ids` pool: "item_ids: <why>, left out: A,
    B (reason), C" (ids hold no space, comma or parenthesis; a reason in parentheses may hold commas)."""
    found: list[str] = []
    for note in notes:
        match = LEFT_OUT.search(note)
        if note.startswith("item_ids:") and match:
            listed = match[1]
            while WHY.search(listed):  # "ROCO_7 (too short (3 words, need 8))": innermost first
                listed = WHY.sub("", listed)
            found += [part.strip() for part in listed.split(",") if part.strip()]
    return found


async def play(interaction: discord.Interaction[Any], qc: QuizContext, request: SetPlay) -> None:
    """Open a thread and quiz the group on the set's images in order."""
    # 1. a member of this server, a set of this server, not empty, no quiz running in this thread
    if await refuse_unless_member(interaction):
        return
    async with qc.db.session() as session:
        study_set = await find_or_say(interaction, session, request.name)
        if study_set is None:
            return
        title, ids = study_set.title, await sets.set_items(session, study_set.id)
        await sets.touch(session, study_set)
        channel = interaction.channel
        running = await quizzes.running_quiz(session, channel.id) if is_thread(channel) and channel else None
    if not ids:
        await say_privately(interaction, render.empty_set(title))
        return
    if running is not None and channel is not None:
        await say_privately(interaction, quiz_render.running_elsewhere(interaction.guild_id, channel.id))
        return
    # 2. what the atlas and the engine can ask, and the first question
    await interaction.response.defer(thinking=True)
    try:
        present, missing = await in_atlas(qc.engine, ids)
        usable, first = await _first_question(qc, present)
    except EngineError as error:
        if error.code != "too_few_items":
            await interaction.edit_original_response(content=f"❌ {friendly_error(error)} The set is unchanged.")
            return
        usable, first = [], None
    if first is None:
        await interaction.edit_original_response(content=render.nothing_playable(title, ids))
        return
    left_out = [i for i in ids if i not in usable]
    header = render.play_header(title, len(usable), interaction.user.id, left_out)
    await interaction.edit_original_response(content=header, allowed_mentions=NO_MENTIONS)
    # 3. the thread, the quiz's row with the ids to ask, the first question
    thread_id = await _open_thread(interaction, title)
    if thread_id is None:
        return
    try:
        async with qc.db.session() as session:
            quiz = await quizzes.start_quiz(
                session, thread_id=thread_id, guild_id=interaction.guild_id, starter_id=interaction.user.id,
                kind="caption", modality=None, question_count=len(usable), item_ids=usable,
            )  # fmt: skip
    except QuizAlreadyRunning:
        await interaction.followup.send(quiz_render.running_elsewhere(interaction.guild_id, thread_id), ephemeral=True)
        return
    await begin(qc, quiz, first)


async def _first_question(qc: QuizContext, present: list[str]) -> tuple[list[str], Any]:
    """The ids the engine can ask, in order, and a question on the first of them. One request with the
    whole set tells which items it leaves out (its notes); seed 0 asks the first usable one."""
    if not present:
        return [], None
    whole = await qc.engine.quiz(QuizRequest(kind="caption", item_ids=present, seed=0))
    dropped = set(left_out_by_engine(whole.notes))
    usable = [i for i in present if i not in dropped]
    if usable and whole.item.id == usable[0]:
        return usable, whole
    first = await ask_item(qc, "caption", usable)  # the engine moved on (too few fair distractors)
    return usable, first


async def _open_thread(interaction: discord.Interaction[Any], title: str) -> int | None:
    """This thread, or a new one on the command's answer."""
    channel = interaction.channel
    if channel is None:
        return None
    if is_thread(channel):
        return channel.id
    try:
        message = await interaction.original_response()
        thread = await message.create_thread(name=f"Set quiz: {title}"[:100], auto_archive_duration=1440)
    except discord.HTTPException:
        log.warning("could not open a set quiz thread", exc_info=True)
        await interaction.edit_original_response(content=quiz_render.NEED_THREADS)
        return None
    return thread.id

