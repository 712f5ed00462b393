"""Ask: grounded answers in a thread. A follow-up (modal or @mention) is answered from the thread's
remembered atlas hits; `/mirage ask` elsewhere searches first and answers from the top hits.

1. find the thread's hits and its last turns in the database (unknown thread → "start with /mirage
   search"; database down → "try again", nothing lost); the turns go with the question, so "and on MRI?"
   keeps its subject, after a restart too;
2. run it as a job like any other (fair queue, status line, cancel);
3. the engine streams the answer's words, shown as they come (bot/flows/live.py), then answers with checked
   citations: the answer, its sources, the disclaimer and the follow-up button replace the words in the
   thread; the turn is remembered. Cancel closes the stream, which stops the generation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import discord

from engine.contract import (
    ASK_CONTEXT_MAX,
    ASK_QUESTION_MAX_CHARS,
    K_DEFAULT,
    AskRequest,
    AskResponse,
    AskTurn,
    SearchRequest,
)

from ..access import message_access_denied
from ..render import text
from ..requests import AskFollowUp, AskNew
from ..store import DatabaseUnavailable
from ..threads import is_thread
from ..ui.views import follow_up_view
from . import memory
from .context import Context
from .live import LiveText
from .reply import Reply
from .run import Work, engine_status, run_in_thread, run_job
from .status import StatusLine

log = logging.getLogger(__name__)

THINKING = "💬 Reading the sources and writing an answer…"
# The thread's last follow-ups sent with a new one; the engine keeps the newest that fit its token bound.
HISTORY_TURNS = 6


async def _thread_hits(ctx: Context, thread_id: int) -> list[str] | None:
    """Step 1: the thread's remembered hits (None when unknown). Raises DatabaseUnavailable."""
    thread = await memory.thread_context(ctx, thread_id)
    return list(thread.hit_ids) if thread is not None and thread.hit_ids else None


async def _grounding(ctx: Context, request: AskFollowUp) -> tuple[list[str], list[AskTurn], str | None]:
    """Checks and step 1 for a follow-up: the thread's hits and last turns, or what to tell the user instead
    (a question over the limit, the database down, a thread the bot does not know) with no hits."""
    problem = question_problem(request.question)
    if problem is not None:
        return [], [], problem
    try:
        hit_ids = await _thread_hits(ctx, request.thread_id)
        history = await memory.thread_history(ctx, request.thread_id, last=HISTORY_TURNS) if hit_ids else []
    except DatabaseUnavailable:
        return [], [], text.DATABASE_TRY_AGAIN
    if hit_ids is None:
        return [], [], text.UNKNOWN_THREAD
    return hit_ids, history, None


def _answer_work(
    ctx: Context, user_id: int, question: str, hit_ids: Sequence[str], history: Sequence[AskTurn] = ()
) -> Work:
    """Step 3: ask the engine on `hit_ids` with the thread's earlier turns, show the words as they come,
    then the checked answer in their place; remember the turn."""

    async def work(reply: Reply, status: StatusLine) -> None:
        await status.set(THINKING)
        request = AskRequest(question=question, context_ids=list(hit_ids)[:ASK_CONTEXT_MAX], history=list(history))
        live = LiveText(reply, min_interval_s=ctx.settings.progress_interval_s)
        try:
            result = await ctx.engine.ask(request, on_queued=engine_status(status, THINKING), on_text=live.update)
        except BaseException:  # cancelled, failed, timed out: the words shown stay, marked as stopped
            await live.stop()
            raise
        await send_ask_answer(reply, result, live=live)
        if (thread := reply.target) is not None and is_thread(thread):
            await memory.add_turn(
                ctx, thread.id, user_id, question=question, answer=result.answer,
                cited_ids=[c.id for c in result.citations], grounded=result.grounded,
            )

    return work


async def send_ask_answer(reply: Reply, result: AskResponse, *, live: LiveText | None = None) -> None:
    """The answer with its sources and the disclaimer, and the follow-up button again (in place of the
    streamed words when there were any)."""
    final = text.ask_answer(result)
    if result.history_used:
        final += f"\n-# Follows on from the last {result.history_used} turn(s) of this thread."
    if live is not None:
        await live.finish(final, view=follow_up_view())
    else:
        await reply.send(final, view=follow_up_view())


# The answer's work for another flow's grounded question ("Why C?" under a quiz reveal).
answer_work = _answer_work


def question_problem(question: str) -> str | None:
    """Why a question cannot be sent (empty, or over the contract's limit), in words for the user; or None."""
    if not question.strip():
        return f"Write a question first (1–{ASK_QUESTION_MAX_CHARS} characters)."
    if len(question) > ASK_QUESTION_MAX_CHARS:
        return f"A question is at most {ASK_QUESTION_MAX_CHARS} characters (yours has {len(question)})."
    return None


async def follow_up(interaction: discord.Interaction[Any], ctx: Context, request: AskFollowUp) -> None:
    """A follow-up from the modal (or `/mirage ask` in a known thread)."""
    hit_ids, history, refusal = await _grounding(ctx, request)
    if refusal is not None:
        await interaction.response.send_message(refusal, ephemeral=True)
        return
    work = _answer_work(ctx, interaction.user.id, request.question, hit_ids, history)
    await run_job(
        interaction, ctx, label="ask", header=text.follow_up_header(request.question),
        thread_name=text.thread_name("Ask", request.question), work=work,
        record={"question": request.question, "thread_id": request.thread_id},
    )


async def follow_up_message(message: discord.Message, ctx: Context, request: AskFollowUp) -> None:
    """A follow-up from a message that @mentions the bot in a thread: answered in that thread."""
    thread = message.channel
    denied = message_access_denied(message, ctx.settings)
    if denied is not None:
        await message.reply(denied, mention_author=False)
        return
    if not request.question:
        await message.reply("Ask me your question in the same message as the mention.", mention_author=False)
        return
    hit_ids, history, refusal = await _grounding(ctx, request)
    if refusal is not None:
        await message.reply(refusal, mention_author=False)
        return
    await thread.send(text.follow_up_header(request.question), allowed_mentions=discord.AllowedMentions.none())
    work = _answer_work(ctx, message.author.id, request.question, hit_ids, history)
    await run_in_thread(
        thread, message.author.id, ctx, label="ask", work=work,
        record={"question": request.question, "thread_id": request.thread_id},
    )


async def ask_new(interaction: discord.Interaction[Any], ctx: Context, request: AskNew) -> None:
    """/mirage ask: in a known answer thread, a follow-up; elsewhere, search first and answer on the top hits
    in a new thread (which then takes follow-ups too)."""
    problem = question_problem(request.question)
    if problem is not None:
        await interaction.response.send_message(problem, ephemeral=True)
        return
    channel = interaction.channel
    if is_thread(channel) and interaction.channel_id is not None:
        try:
            known = await _thread_hits(ctx, interaction.channel_id)
        except DatabaseUnavailable:
            await interaction.response.send_message(text.DATABASE_TRY_AGAIN, ephemeral=True)
            return
        if known is not None:
            await follow_up(interaction, ctx, AskFollowUp(interaction.channel_id, request.question))
            return
    question = request.question

    async def work(reply: Reply, status: StatusLine) -> None:
        working = "🔎 Finding atlas images for your question…"
        await status.set(working)
        search = SearchRequest(query=question, k=K_DEFAULT, enrich=False)
        found = await ctx.engine.search(search, on_queued=engine_status(status, working))
        hit_ids = [hit.id for hit in found.hits]
        if not hit_ids:
            await reply.send(text.with_disclaimer(text.NOTHING_TO_GROUND))
            return
        await memory.remember_thread(ctx, reply.target, command="ask", query=question, hit_ids=hit_ids)
        await _answer_work(ctx, interaction.user.id, question, hit_ids)(reply, status)

    await run_job(
        interaction, ctx, label="ask", header=text.question_header(question),
        thread_name=text.thread_name("Ask", question), work=work, record={"question": question},
    )
