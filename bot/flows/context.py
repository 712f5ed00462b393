"""What every flow works with: the settings, the engine client, the job queue and the database; and, where
a database is wired, what the quiz flows work with (`QuizContext`: the same parts and the quizzes in play)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import BotSettings
from ..engine_client import EngineClient
from ..queue import JobQueue
from ..store import Database
from .quiz.live import QuizContext


@dataclass
class Context:
    """The bot's shared parts, built once in `setup_hook`. `db` is None only when no database is wired
    (then nothing is remembered, follow-ups cannot find their thread, and there are no quizzes: `quiz`
    is None too)."""

    settings: BotSettings
    engine: EngineClient
    queue: JobQueue
    db: Database | None = None
    quiz: QuizContext | None = None
