"""What every flow works with: the settings, the engine client, the job queue and the database."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import BotSettings
from ..engine_client import EngineClient
from ..queue import JobQueue
from ..store import Database


@dataclass
class Context:
    """The bot's shared parts, built once in `setup_hook`. `db` is None only when no database is wired
    (then nothing is remembered and follow-ups cannot find their thread)."""

    settings: BotSettings
    engine: EngineClient
    queue: JobQueue
    db: Database | None = None
