"""Wiring the quiz feature into the client: its flows, its persistent buttons, its commands, its resume."""

from __future__ import annotations

from dataclasses import dataclass

import discord
from discord import app_commands

from bot.config import BotSettings
from bot.engine_client import EngineClient
from bot.store.database import Database

from .commands import add_commands
from .flow import QuizFlow
from .review import ReviewFlow
from .ui import PERSISTENT_ITEMS


@dataclass
class QuizFeature:
    """The quiz flows of one bot process; buttons find them as `client.quiz`."""

    game: QuizFlow
    review: ReviewFlow

    async def close(self) -> None:
        """Stop timers and the answer writer."""
        await self.game.close()


def install(
    client: discord.Client,
    group: app_commands.Group,
    settings: BotSettings,
    engine: EngineClient,
    db: Database,
) -> QuizFeature:
    """Build the flows, register the buttons and commands, and resume running quizzes in the background."""
    game = QuizFlow(client, settings, engine, db)
    feature = QuizFeature(game, ReviewFlow(engine, db, game))
    client.quiz = feature  # type: ignore[attr-defined]
    client.add_dynamic_items(*PERSISTENT_ITEMS)
    add_commands(group)
    # Resuming posts to threads over REST: it needs no gateway, and start-up need not wait for it.
    game.spawn(game.resume())
    return feature
