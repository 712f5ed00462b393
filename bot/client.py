"""The Discord client: start-up in `setup_hook`, errors at one edge, nothing else."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
import httpx
from discord import app_commands

from .capacity import follow_engine_capacity
from .metrics import METRICS, serve_metrics
from .commands import MirageCommands
from .config import BotSettings
from .engine_client import make_http_client
from .errors import report_unexpected
from .quiz.setup import QuizFeature
from .quiz.setup import install as install_quiz
from .services import Services
from .store import Database, open_database
from .views import PERSISTENT_ITEMS

log = logging.getLogger(__name__)


class MirageTree(app_commands.CommandTree):
    """The command tree; its `on_error` is where unexpected command errors end."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError, /
    ) -> None:
        """Log with the traceback; tell the user briefly."""
        await report_unexpected(interaction, error)


class MirageBot(discord.Client):
    """The MIRAGE bot: slash commands and persistent buttons; no privileged intents."""

    def __init__(self, settings: BotSettings) -> None:
        # Slash commands and buttons arrive as interactions: only the guilds intent (channel cache) is needed.
        super().__init__(intents=discord.Intents(guilds=True))
        self.settings = settings
        self.tree = MirageTree(self)
        self.engine_http: httpx.AsyncClient | None = None
        self.services: Services | None = None
        self.db: Database | None = None
        self.quiz: QuizFeature | None = None

    async def setup_hook(self) -> None:
        """Open the engine client, add the commands and persistent buttons, sync the commands."""
        self.engine_http = make_http_client(self.settings)
        self.services = Services.build(self.settings, self.engine_http)
        METRICS.watch_queue(self.services.queue)
        self._metrics_server = serve_metrics(self.settings.bot_metrics_port)
        if self.settings.engine_capacity_refresh_s > 0:  # send as many jobs at once as the engine can batch
            self._capacity = asyncio.create_task(follow_engine_capacity(
                self.engine_http, self.services.queue, every_s=self.settings.engine_capacity_refresh_s
            ))
        self.db = await open_database(self.settings)
        mirage = MirageCommands(self.services)
        self.quiz = install_quiz(self, mirage, self.settings, self.services.engine, self.db)
        self.tree.add_command(mirage)
        self.add_dynamic_items(*PERSISTENT_ITEMS)
        if self.settings.dev_guild_id is not None:
            # A guild sync shows up at once; global commands can take up to an hour to propagate.
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to the dev guild %s", len(synced), self.settings.dev_guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))

    async def on_ready(self) -> None:
        """Only log: on_ready can fire again after reconnects."""
        log.info(
            "logged in as %s (%s); engine at %s",
            self.user,
            getattr(self.user, "id", "?"),
            self.settings.engine_url,
        )

    async def close(self) -> None:
        """Close the engine client, then Discord."""
        if getattr(self, "_capacity", None) is not None:
            self._capacity.cancel()
        if getattr(self, "_metrics_server", None) is not None:
            self._metrics_server.shutdown()
        if self.quiz is not None:
            await self.quiz.close()
        if self.db is not None:
            await self.db.close()
        if self.engine_http is not None:
            await self.engine_http.aclose()
        await super().close()
