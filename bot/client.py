"""The Discord client: start-up in `setup_hook`, errors at one edge, nothing else."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import discord
import httpx
from discord import app_commands

from .acks import AckGate
from .capacity import follow_engine_capacity
from .config import BotSettings
from .drain import Drain
from .engine_client import make_http_client
from .errors import SORRY, report_unexpected
from .flows.retention import start_retention
from .metrics import METRICS, serve_metrics
from .render.text import RESTARTING
from .services import Services
from .store import Database, DatabaseUnavailable, jobs, open_database
from .ui.buttons import PERSISTENT_ITEMS
from .ui.commands import MirageCommands
from .ui.mentions import follow_up_from
from .ui.modals import follow_up_from_modal
from .ui.quiz_buttons import PERSISTENT_ITEMS as QUIZ_ITEMS
from .ui.quiz_commands import add_commands as add_quiz_commands
from .ui.quiz_report_buttons import REPORT_ITEMS
from .ui.set_buttons import PERSISTENT_ITEMS as SET_ITEMS
from .ui.teach_buttons import PERSISTENT_ITEMS as TEACH_ITEMS

log = logging.getLogger(__name__)


class MirageTree(app_commands.CommandTree):
    """The command tree; its `on_error` is where unexpected command errors end."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError, /
    ) -> None:
        """Log with the traceback; tell the user briefly."""
        await report_unexpected(interaction, error)


class MirageBot(discord.Client):
    """The MIRAGE bot: slash commands, persistent buttons and @mention follow-ups; no privileged intents."""

    def __init__(self, settings: BotSettings) -> None:
        # Slash commands and buttons arrive as interactions (the guilds intent keeps the channel cache);
        # guild messages bring the @mentions in threads. Not message content, which is privileged: Discord
        # still fills it in for messages that mention the bot.
        # No mentions unless a message asks for them: text a user typed can never ping @everyone or a role
        super().__init__(intents=discord.Intents(guilds=True, guild_messages=True),
                         allowed_mentions=discord.AllowedMentions.none())
        self.settings = settings
        self.tree = MirageTree(self)
        self.engine_http: httpx.AsyncClient | None = None
        self.services: Services | None = None
        self.db: Database | None = None
        self._metrics_server: Any = None  # prometheus-client's HTTP server, when metrics are on
        self._capacity: asyncio.Task[None] | None = None  # follows the engine's advertised capacity
        self._retention: asyncio.Task[None] | None = None  # deletes old typed texts (MIRAGE_RETENTION_DAYS)
        self.acks = AckGate()  # acknowledgements before follow-ups in a burst (bot/acks.py)
        self.drain = Drain(self, settings.bot_drain_grace_s)  # `python -m bot` calls drain.begin on SIGTERM
        self.drain.install_gate(self)

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        """Tell the acknowledgement gate of each interaction as it arrives, then dispatch as usual."""
        if event == "interaction" and args:
            self.acks.arrived(args[0])
        super().dispatch(event, *args, **kwargs)

    async def login(self, token: str) -> None:
        """Log in over a pool of at most `discord_connections` keep-alive connections (0: no limit)."""
        self.http.connector = aiohttp.TCPConnector(limit=self.settings.discord_connections)
        await super().login(token)

    async def setup_hook(self) -> None:
        """Open the engine client, add the commands and persistent buttons, sync the commands."""
        self.engine_http = make_http_client(self.settings)
        self.db = await open_database(self.settings)
        await self._interrupt_unfinished_jobs()
        self._retention = start_retention(self.db, self.settings.retention_days)
        self.services = Services.build(self.settings, self.engine_http, self.db, poster=self)
        METRICS.watch_queue(self.services.queue)
        self._metrics_server = serve_metrics(self.settings.bot_metrics_port)
        if self.settings.engine_capacity_refresh_s > 0:  # send as many jobs at once as the engine can batch
            self._capacity = asyncio.create_task(follow_engine_capacity(
                self.engine_http, self.services.queue, every_s=self.settings.engine_capacity_refresh_s
            ))
        mirage = MirageCommands()
        add_quiz_commands(mirage)
        self.tree.add_command(mirage)
        self.add_dynamic_items(*PERSISTENT_ITEMS, *QUIZ_ITEMS, *TEACH_ITEMS, *REPORT_ITEMS, *SET_ITEMS)
        self.services.resume_quizzes()
        if self.settings.dev_guild_id is not None:
            # A guild sync shows up at once; global commands can take up to an hour to propagate.
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to the dev guild %s", len(synced), self.settings.dev_guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))

    async def _interrupt_unfinished_jobs(self) -> None:
        """Jobs a previous process left waiting or running were cut by its end: mark them so their Cancel
        buttons can say so."""
        assert self.db is not None
        try:
            async with self.db.session() as session:
                cut = await jobs.interrupt_unfinished(session)
        except DatabaseUnavailable:
            log.warning("could not mark interrupted jobs: the database is unavailable")
            return
        if cut:
            log.info("%d job(s) were cut short by the last restart", len(cut))

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """A submitted follow-up form is answered here, from the interaction alone (so also after a restart
        between the click and the submit); every other interaction is discord.py's to route."""
        request = follow_up_from_modal(interaction)
        if request is None or self.services is None:
            return
        try:
            await self.services.handle(interaction, request)
        except Exception as error:
            await report_unexpected(interaction, error)

    async def on_message(self, message: discord.Message) -> None:
        """A message that @mentions the bot in an answer thread is a follow-up; every other message is ignored."""
        request = follow_up_from(message, self.user)
        if request is None or self.services is None:
            return
        if self.drain.draining:
            try:
                await message.reply(RESTARTING, mention_author=False)
            except discord.HTTPException:
                log.info("could not tell the thread that the bot is restarting", exc_info=True)
            return
        try:
            await self.services.handle_message(message, request)
        except Exception:  # the edge for messages: log it, tell the thread briefly, stay up
            log.exception("follow-up from a mention in %s failed", message.channel.id)
            try:
                await message.reply(SORRY, mention_author=False)
            except discord.HTTPException:
                log.warning("could not tell the thread about the failure", exc_info=True)

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
        background = [task for task in (self._capacity, self._retention) if task is not None]
        for task in background:
            task.cancel()
        # Wait for them to end: a task cancelled inside a database session must give its connection
        # back before the database is closed, or closing waits on it forever.
        await asyncio.gather(*background, return_exceptions=True)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
        if self.services is not None:
            await self.services.close()
        if self.db is not None:
            await self.db.close()
        if self.engine_http is not None:
            await self.engine_http.aclose()
        await super().close()
