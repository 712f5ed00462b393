"""The quizzes this bot process is running, as it holds them in memory: each quiz's current question, its
timer, and the background tasks (reveals, resumes) that outlive the click that started them.

The database holds the truth; a `LiveQuiz` is rebuilt from it after a restart (`recovery.py`). Only
this module knows about tasks and timers; what a timer does when it rings is the caller's (`reveal.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import discord

from ...config import BotSettings
from ...engine_client import EngineClient
from ...rules.quiz import QuestionPlay
from ...rules.quiz_fair import QuizPool
from ...store import Database
from ...store.models import Quiz, utcnow
from .payload import AskedQuestion
from .writer import AnswerWriter

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


class Poster(Protocol):
    """The one part of `discord.Client` a quiz posts through: a thread (or DM) by id, over REST."""

    def get_partial_messageable(self, channel_id: int, /, *, guild_id: int | None = None) -> Any: ...  # noqa: D102


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
    topic: str | None = None  # the engine's pool: a topic, or a concept (UMLS CUI); None: the whole atlas
    concept: str | None = None

    @classmethod
    def from_row(cls, quiz: Quiz) -> LiveQuiz:
        """A running quiz's facts from its row, with no question in hand."""
        return cls(
            quiz.id, quiz.thread_id, quiz.guild_id, quiz.starter_id, quiz.kind, quiz.modality,
            quiz.question_count, solo=quiz.guild_id is None, topic=quiz.topic, concept=quiz.concept,
        )  # fmt: skip

    @property
    def pool(self) -> QuizPool:
        """What the engine draws this quiz's items from."""
        return QuizPool(self.kind, self.modality, self.topic, self.concept)

    @property
    def open(self) -> bool:
        """A question is being played (asked and not yet revealed)."""
        return self.play is not None and not self.play.revealed

    def stop_timer(self) -> None:
        """Cancel the question's timer, unless it is the task asking (a ringing timer ends by itself)."""
        if self.timer is not None and self.timer is not asyncio.current_task():
            self.timer.cancel()


class LiveQuizzes:
    """Every running quiz of this process, their timers and background tasks, and the batched answer writer."""

    def __init__(self, poster: Poster | None, db: Database) -> None:
        self.poster = poster
        self.writer = AnswerWriter(db)
        self.by_id: dict[int, LiveQuiz] = {}
        self.loading: dict[int, asyncio.Future[LiveQuiz | None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def channel(self, live: LiveQuiz) -> Any:
        """Where the quiz is played (a thread or the DM), to post and edit over REST."""
        if self.poster is None:
            raise RuntimeError("these services were built without a Discord client to post quizzes through")
        return self.poster.get_partial_messageable(live.thread_id, guild_id=live.guild_id)

    def playing(self, question_id: int) -> LiveQuiz | None:
        """The quiz in memory whose current question this is."""
        return next((live for live in self.by_id.values() if live.question_id == question_id), None)

    # --- timers and background tasks ---------------------------------------------------------
    def arm_timer(self, live: LiveQuiz, deadline: datetime, ring: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """At `deadline`, run `ring` (replacing the quiz's earlier timer)."""
        if live.timer is not None:
            live.timer.cancel()

        async def wait_then_ring() -> None:
            await asyncio.sleep(max(0.0, (deadline - utcnow()).total_seconds()))
            # What rings runs in its own task: cancelling a timer never cancels a reveal half-way.
            self.spawn(ring())

        live.timer = asyncio.create_task(wait_then_ring(), name=f"quiz-{live.quiz_id}-timer")

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` in the background, logging its failure (the task is kept until it ends)."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("quiz task failed", exc_info=task.exception())

    # --- leaving ----------------------------------------------------------------------------
    def forget(self, user_id: int) -> None:
        """Drop a player who used forget-me from the quizzes in memory (their rows are gone already)."""
        for live in self.by_id.values():
            live.joined.discard(user_id)
            if live.play is not None:
                live.play.forget(user_id)

    async def close(self) -> None:
        """Stop timers and the answer writer (the database keeps every quiz for the next start)."""
        for live in self.by_id.values():
            if live.timer is not None:
                live.timer.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        # Wait for them to end: a task cancelled while holding a database session must give its
        # connection back before the database is closed, or it is torn down later on a dying loop.
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.writer.close()


@dataclass(frozen=True)
class QuizContext:
    """What every quiz flow works with: the bot's settings, engine client and database, and the quizzes
    in play (built once with the services; only where a database is wired)."""

    settings: BotSettings
    engine: EngineClient
    db: Database
    quizzes: LiveQuizzes

    @property
    def reveal_s(self) -> float:
        """Seconds a question stays open."""
        return self.settings.quiz_reveal_s
