"""A quiz in a thread, from `/mirage quiz` to the final scoreboard, surviving restarts.

1. start: check the place, ask the engine for the first question (its errors, e.g. a modality with
   too few images, reach the user before any thread is opened), open the thread, save the quiz;
2. each question: the case image as `case-N.png`, lettered choices, A–E / Hint / Stop buttons, and a
   timer whose deadline is in the database;
3. each click: written (in batches, `writer.py`), acknowledged privately, and the reveal started
   when everyone who joined has answered (`game.py`);
4. the reveal: the store settles the question once (points, review cards), the thread gets the
   answer, the caption, its source and the scoreboard; then the next question or the end;
5. after a restart `resume` re-arms the timers of open questions, or reveals at once those whose
   timer ran out meanwhile, with a note; hints and the reveal's caption come from the question's row
   (`payload.py`), so they need no engine.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import discord

from bot.config import BotSettings
from bot.engine_client import EngineClient, EngineError
from bot.render.text import friendly_error
from bot.store import answers, quizzes, scores
from bot.store.database import Database
from bot.store.errors import DatabaseUnavailable, QuestionClosed, QuizAlreadyRunning
from bot.store.models import Question, Quiz, utcnow
from bot.store.settle import settle_question
from bot.threads import is_thread
from engine.contract import SEED_MAX, Hit, QuizRequest, QuizResponse

from . import render, ui
from .game import QuestionPlay
from .payload import AskedQuestion
from .writer import AnswerWriter

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
FRESH_ITEM_TRIES = 5  # new seeds to try when the engine picks an image this quiz already showed
DB_BUSY = "The quiz database is busy right now; please click again in a moment."
RESTART_NOTE = "This question's timer ran out while I was restarting, so here is its answer now."


@dataclass
class LiveQuiz:
    """A running quiz as this process holds it (rebuilt from the database after a restart)."""

    quiz_id: int
    thread_id: int
    guild_id: int | None
    starter_id: int | None
    kind: str
    modality: str | None
    total: int
    solo: bool
    joined: set[int] = field(default_factory=set)
    used: set[str] = field(default_factory=set)  # atlas ids already asked
    position: int = 0  # 1-based number of the current question; 0 before the first
    question_id: int | None = None
    play: QuestionPlay | None = None
    asked: AskedQuestion | None = None  # the current question's hints and item (None: ask the engine)
    message_id: int | None = None
    timer: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ended: bool = False


def new_seed() -> int:
    """A random seed for the engine's item choice."""
    return random.randint(0, SEED_MAX)


class QuizFlow:
    """Runs every quiz of this bot process."""

    def __init__(self, client: discord.Client, settings: BotSettings, engine: EngineClient, db: Database) -> None:
        self.client = client
        self.settings = settings
        self.engine = engine
        self.db = db
        self.writer = AnswerWriter(db)
        self.live: dict[int, LiveQuiz] = {}
        self._loading: dict[int, asyncio.Future[LiveQuiz | None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def reveal_s(self) -> float:
        return self.settings.quiz_reveal_s

    # --- 1. start ---------------------------------------------------------------------------
    async def start(
        self, interaction: discord.Interaction[Any], *, modality: str | None, questions: int, kind: str
    ) -> None:
        """/mirage quiz: open a thread and ask the first question."""
        # The group's interaction_check has applied the server's channel and role limits already.
        channel = interaction.channel
        in_thread = is_thread(channel)
        if in_thread and channel is not None:
            async with self.db.session() as session:
                running = await quizzes.running_quiz(session, channel.id)
            if running is not None:
                await interaction.response.send_message(
                    render.running_elsewhere(interaction.guild_id, channel.id), ephemeral=True
                )
                return
        await interaction.response.defer(thinking=True)
        # The first question before any thread: a bad modality is answered where it was asked.
        try:
            first = await self._fetch_question(kind, modality, used=set())
        except EngineError as error:
            await interaction.edit_original_response(content=f"❌ {friendly_error(error)}")
            return
        header = render.quiz_header(questions, kind, modality, interaction.user.id)
        await interaction.edit_original_response(content=header, allowed_mentions=NO_MENTIONS)
        thread_id = await self._open_thread(interaction, in_thread, modality)
        if thread_id is None:
            return
        solo = interaction.guild_id is None
        try:
            async with self.db.session() as session:
                quiz = await quizzes.start_quiz(
                    session,
                    thread_id=thread_id,
                    guild_id=interaction.guild_id,
                    starter_id=interaction.user.id,
                    kind=kind,
                    modality=modality,
                    question_count=questions,
                )
        except QuizAlreadyRunning:  # two starts in one thread at the same moment: the other won
            await interaction.followup.send(
                render.running_elsewhere(interaction.guild_id, thread_id), ephemeral=True
            )
            return
        live = LiveQuiz(
            quiz.id, thread_id, interaction.guild_id, interaction.user.id, kind, modality, questions, solo
        )
        self.live[quiz.id] = live
        async with live.lock:
            try:
                await self._post_question(live, first)
            except (EngineError, discord.HTTPException) as error:
                await self._abandon(live, error)

    async def _abandon(self, live: LiveQuiz, error: Exception) -> None:
        """A question could not be fetched or posted: end the quiz (never leave it running) and say why."""
        log.warning("quiz %s ends early: %s", live.quiz_id, error)
        why = friendly_error(error) if isinstance(error, EngineError) else "Discord refused the message"
        try:
            await self._channel(live).send(f"❌ I couldn't go on with this quiz ({why}). It ends here.")
        except discord.HTTPException:
            log.info("could not post to quiz thread %s either", live.thread_id)
        try:
            await self._end(live, stopped_by=None)
        except discord.HTTPException:
            log.info("could not post the final scoreboard of quiz %s", live.quiz_id)

    async def _open_thread(
        self, interaction: discord.Interaction[Any], in_thread: bool, modality: str | None
    ) -> int | None:
        """The thread to play in: this one, a new one on the command's message, or the DM itself."""
        channel = interaction.channel
        if channel is None:
            return None
        if in_thread or interaction.guild_id is None:
            return channel.id
        try:
            message = await interaction.original_response()
            name = f"Case quiz{f' · {modality}' if modality else ''}"
            thread = await message.create_thread(name=name, auto_archive_duration=1440)
        except discord.HTTPException:
            log.warning("could not open a quiz thread", exc_info=True)
            await interaction.edit_original_response(
                content="❌ I need the *Create Public Threads* and *Send Messages in Threads* permissions "
                "here to run a quiz."
            )
            return None
        return thread.id

    async def _fetch_question(self, kind: str, modality: str | None, used: set[str]) -> QuizResponse:
        """A question from the engine, on an image this quiz has not shown yet when possible."""
        for _ in range(1 + FRESH_ITEM_TRIES):
            response = await self.engine.quiz(QuizRequest(kind=kind, modality=modality, seed=new_seed()))  # type: ignore[arg-type]
            if response.item.id not in used:
                break
        return response

    # --- 2. a question ------------------------------------------------------------------------
    def _channel(self, live: LiveQuiz) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(live.thread_id, guild_id=live.guild_id)

    async def _post_question(self, live: LiveQuiz, response: QuizResponse) -> None:
        """Save and post the next question, and arm its timer (the caller holds `live.lock`)."""
        position = live.position + 1
        raw = await self.engine.fetch_image(response.image_url)
        png = await asyncio.to_thread(render.case_png, raw)
        deadline = utcnow() + timedelta(seconds=self.reveal_s)
        asked = AskedQuestion.from_response(response)
        async with self.db.session() as session:
            question = await quizzes.add_question(
                session,
                live.quiz_id,
                position=position - 1,
                atlas_id=response.item.id,
                modality=response.item.modality,
                choices=[choice.model_dump() for choice in response.choices],
                answer_index=response.answer,
                deadline=deadline,
                payload=asked.to_payload(),
            )
        live.position, live.question_id, live.asked = position, question.id, asked
        live.play = QuestionPlay(len(response.choices))
        live.used.add(response.item.id)
        self._arm_timer(live, question.id, deadline)  # before sending: the deadline is in the database already
        card = render.QuestionCard(
            position, live.total, response.question, [c.text for c in response.choices], self.reveal_s, live.solo
        )
        message = await self._channel(live).send(
            render.question_text(card),
            file=discord.File(io.BytesIO(png), render.case_filename(position)),
            view=ui.question_view(live.quiz_id, question.id, len(response.choices), seed=response.seed),
            allowed_mentions=NO_MENTIONS,
        )
        live.message_id = message.id

    def _arm_timer(self, live: LiveQuiz, question_id: int, deadline: datetime, note: str | None = None) -> None:
        if live.timer is not None:
            live.timer.cancel()

        async def ring() -> None:
            await asyncio.sleep(max(0.0, (deadline - utcnow()).total_seconds()))
            # The reveal runs in its own task: cancelling a timer never cancels a reveal half-way.
            self.spawn(self._reveal(live, question_id, note))

        live.timer = asyncio.create_task(ring(), name=f"quiz-{live.quiz_id}-timer")

    def spawn(self, coro: Any) -> None:
        """Run `coro` in the background, logging its failure (the task is kept until it ends)."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("quiz task failed", exc_info=task.exception())

    # --- 3. clicks ----------------------------------------------------------------------------
    async def answer(self, interaction: discord.Interaction[Any], question_id: int, choice: int) -> None:
        """A letter was clicked: lock it in, say so privately, reveal if everyone has answered."""
        live = await self._live_for(question_id)
        if live is None or live.play is None or live.play.revealed:
            await interaction.response.send_message(render.CLOSED, ephemeral=True)
            return
        try:
            recorded = await self.writer.record(question_id, interaction.user.id, choice)
        except QuestionClosed:
            await interaction.response.send_message(render.CLOSED, ephemeral=True)
            return
        except DatabaseUnavailable:
            await interaction.response.send_message(DB_BUSY, ephemeral=True)
            return
        await interaction.response.send_message(
            render.locked_in_text(recorded.choice, recorded.previous), ephemeral=True
        )
        play = live.play
        if live.question_id == question_id and not play.revealed:
            play.lock_in(interaction.user.id, choice)
            if play.should_reveal(live.joined, solo=live.solo, first=live.position == 1):
                self.spawn(self._reveal(live, question_id))

    async def hint(self, interaction: discord.Interaction[Any], question_id: int, seed: int) -> None:
        """The Hint button: the player's next rung, privately (it costs points if they answer right)."""
        live = await self._live_for(question_id)
        if live is None or live.play is None or live.play.revealed:
            await interaction.response.send_message(render.CLOSED, ephemeral=True)
            return
        hints = await self._hints(interaction, live, question_id, seed)
        if not hints:
            await ui.say_privately(interaction, "💡 There are no hints for this question.")
            return
        level = live.play.next_hint(interaction.user.id, len(hints))
        if level is None:
            await ui.say_privately(interaction, render.no_more_hints(len(hints)))
            return
        try:
            async with self.db.session() as session:
                reached = await answers.record_hint(session, question_id, interaction.user.id, level)
        except QuestionClosed:
            await ui.say_privately(interaction, render.CLOSED)
            return
        live.play.took_hint(interaction.user.id, reached)
        await ui.say_privately(interaction, render.hint_text(reached, len(hints), hints[reached - 1]))

    async def _hints(
        self, interaction: discord.Interaction[Any], live: LiveQuiz, question_id: int, seed: int
    ) -> list[str]:
        """The question's hint ladder: held since it was asked (or read from its row after a restart); for
        a question asked before its row kept them, asked again from the engine with its seed."""
        if live.asked is not None and live.question_id == question_id:
            return list(live.asked.hints)
        await interaction.response.defer(ephemeral=True, thinking=True)  # the engine may take a moment
        async with self.db.session() as session:
            question = await quizzes.get_question(session, question_id)
        try:
            again = await self.engine.quiz(QuizRequest(kind=live.kind, modality=live.modality, seed=seed))  # type: ignore[arg-type]
        except EngineError:
            log.warning("could not rebuild the hints of question %s", question_id, exc_info=True)
            return []
        if question is None or again.item.id != question.atlas_id:
            return []  # the atlas changed since: the seed no longer names this image
        if live.question_id == question_id:
            live.asked = AskedQuestion.from_response(again)
        return list(again.hints)

    # --- 4. reveal, next, end ---------------------------------------------------------------------
    async def _reveal(self, live: LiveQuiz, question_id: int, note: str | None = None) -> None:
        """Settle and show one question, then go on (a second caller for the same question does nothing)."""
        async with live.lock:
            if live.ended or live.question_id != question_id or live.play is None or live.play.revealed:
                return
            live.play.close()
            if live.timer is not None and live.timer is not asyncio.current_task():
                live.timer.cancel()
            try:
                async with self.db.session() as session:
                    settlement = await settle_question(session, question_id)
            except DatabaseUnavailable:
                live.play.revealed = False  # try again shortly; the answers are safe in the database
                self._arm_timer(live, question_id, utcnow() + timedelta(seconds=2), note)
                return
            if settlement is None:
                return
            question = settlement.question
            item = await self._item(live, question)
            live.joined |= {r.user_id for r in settlement.results}
            right = question.choices[question.answer_index]
            answer_text = right.get("full_text") or right.get("text", "")
            card = render.RevealCard(
                live.position, live.total, question.answer_index, answer_text, item,
                settlement.results, settlement.scoreboard, note, fallback_id=question.atlas_id,
            )
            try:
                await self._channel(live).send(
                    render.reveal_text(card), view=ui.rerate_view(question_id), allowed_mentions=NO_MENTIONS
                )
            except discord.HTTPException as error:  # e.g. the thread was deleted: the answers are scored anyway
                await self._abandon(live, error)
                return
            await self._disable_buttons(live, len(question.choices))
            await self._advance(live)

    async def _item(self, live: LiveQuiz, question: Question) -> Hit | None:
        """The asked image's caption and source: held since it was asked (or read from its row after a
        restart), else from the engine's atlas."""
        if live.asked is not None and live.asked.item.id == question.atlas_id:
            return live.asked.item
        try:
            return await self.engine.atlas_item(question.atlas_id)
        except EngineError:
            log.warning("could not fetch atlas item %s for a reveal", question.atlas_id, exc_info=True)
            return None

    async def _disable_buttons(self, live: LiveQuiz, n_choices: int) -> None:
        """Grey out the revealed question's buttons (one edit per question, never per click)."""
        if live.message_id is None or live.question_id is None:
            return
        view = ui.question_view(live.quiz_id, live.question_id, n_choices, seed=0, disabled=True)
        try:
            await self._channel(live).get_partial_message(live.message_id).edit(view=view)
        except discord.HTTPException:
            log.info("could not disable the buttons of question %s", live.question_id, exc_info=True)

    async def _advance(self, live: LiveQuiz) -> None:
        """The next question, or the end (the caller holds `live.lock`)."""
        if live.position >= live.total:
            await self._end(live, stopped_by=None)
            return
        try:
            response = await self._fetch_question(live.kind, live.modality, live.used)
            await self._post_question(live, response)
        except (EngineError, discord.HTTPException) as error:
            await self._abandon(live, error)

    async def _end(self, live: LiveQuiz, *, stopped_by: int | None, state: str = "finished") -> bool:
        """Mark the quiz over and post the final scoreboard; False when it had already ended."""
        # A stopped quiz's open question is closed unscored; count only the revealed ones.
        revealed = live.position - int(live.play is not None and not live.play.revealed)
        async with self.db.session() as session:
            ended = await quizzes.finish_quiz(session, live.quiz_id, state=state)
            board = await scores.quiz_scoreboard(session, live.quiz_id)
        live.ended = True
        if live.play is not None:
            live.play.close()
        if live.timer is not None and live.timer is not asyncio.current_task():
            live.timer.cancel()
        self.live.pop(live.quiz_id, None)
        if not ended:
            return False
        text = render.final_text(board, answered=revealed, total=live.total, stopped_by=stopped_by)
        await self._channel(live).send(text, allowed_mentions=NO_MENTIONS)
        return True

    async def stop(self, interaction: discord.Interaction[Any], quiz_id: int) -> None:
        """The Stop button: only the starter or someone who may manage messages."""
        async with self.db.session() as session:
            quiz = await quizzes.get_quiz(session, quiz_id)
        if quiz is None or quiz.state != "running":
            await interaction.response.send_message("This quiz has already ended.", ephemeral=True)
            return
        if interaction.user.id != quiz.starter_id and not interaction.permissions.manage_messages:
            await interaction.response.send_message(
                "Only the person who started this quiz, or someone who can manage messages here, can stop it.",
                ephemeral=True,
            )
            return
        await interaction.response.send_message("🛑 Stopping the quiz.", ephemeral=True)
        live = self.live.get(quiz_id) or self._bare(quiz)
        async with live.lock:
            n_choices = live.play.n_choices if live.play else 0
            if await self._end(live, stopped_by=interaction.user.id, state="stopped") and n_choices:
                await self._disable_buttons(live, n_choices)

    @staticmethod
    def _bare(quiz: Quiz) -> LiveQuiz:
        """A running quiz's facts from its row, with no question in hand."""
        return LiveQuiz(
            quiz.id, quiz.thread_id, quiz.guild_id, quiz.starter_id, quiz.kind, quiz.modality,
            quiz.question_count, solo=quiz.guild_id is None,
        )

    # --- 5. after a restart -------------------------------------------------------------------
    async def resume(self) -> None:
        """Pick up every running quiz: re-arm timers, reveal overdue questions, or go on to the next."""
        try:
            async with self.db.session() as session:
                running = await quizzes.running_quizzes(session)
        except DatabaseUnavailable:
            log.error("could not resume quizzes: the database is unavailable")
            return
        for quiz in running:
            if quiz.id not in self.live:
                await self._load(quiz)

    async def _live_for(self, question_id: int) -> LiveQuiz | None:
        """The live quiz whose current question this is; loaded from the database when not in memory."""
        for live in self.live.values():
            if live.question_id == question_id:
                return live
        async with self.db.session() as session:
            question = await quizzes.get_question(session, question_id)
            quiz = await quizzes.get_quiz(session, question.quiz_id) if question else None
        if question is None or quiz is None or quiz.state != "running" or question.state != "open":
            return None
        live = self.live.get(quiz.id) or await self._load(quiz)
        return live if live is not None and live.question_id == question_id else None

    async def _load(self, quiz: Quiz) -> LiveQuiz | None:
        """Rebuild a running quiz from the database once, however many clicks ask for it at the same time."""
        pending = self._loading.get(quiz.id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[LiveQuiz | None] = asyncio.get_running_loop().create_future()
        self._loading[quiz.id] = future
        try:
            live = await self._rebuild(quiz)
            future.set_result(live)
            return live
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            self._loading.pop(quiz.id, None)

    async def _rebuild(self, quiz: Quiz) -> LiveQuiz | None:
        async with self.db.session() as session:
            questions = await quizzes.quiz_questions(session, quiz.id)
            board = await scores.quiz_scoreboard(session, quiz.id)
            open_question = next((q for q in questions if q.state == "open"), None)
            rows = await answers.question_answers(session, open_question.id) if open_question else []
        live = self._bare(quiz)
        live.joined = {s.user_id for s in board}
        live.used = {q.atlas_id for q in questions}
        self.live[quiz.id] = live
        if open_question is None:  # stopped between a reveal and the next question
            live.position = len(questions)
            self.spawn(self._advance_locked(live))
            return live
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
        self._arm_timer(live, open_question.id, deadline, RESTART_NOTE if overdue else None)
        log.info("resumed quiz %s at question %d (%s)", quiz.id, live.position, "overdue" if overdue else "timer re-armed")
        return live

    async def _advance_locked(self, live: LiveQuiz) -> None:
        async with live.lock:
            await self._advance(live)

    def forget(self, user_id: int) -> None:
        """Drop a player who used forget-me from the quizzes in memory (their rows are gone already)."""
        for live in self.live.values():
            live.joined.discard(user_id)
            if live.play is not None:
                live.play.choices.pop(user_id, None)
                live.play.hints.pop(user_id, None)

    async def close(self) -> None:
        """Stop timers and the answer writer (the database keeps every quiz for the next start)."""
        for live in self.live.values():
            if live.timer is not None:
                live.timer.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        # Wait for them to end: a task cancelled while holding a database session must give its
        # connection back before the database is closed, or it is torn down later on a dying loop.
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.writer.close()
