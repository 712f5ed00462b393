"""The bot's services: the shared parts (settings, engine client, queue, database) and the one place a
request from the UI meets the flow that carries it out."""

from __future__ import annotations

import logging
from typing import Any

import discord
import httpx

from .config import BotSettings
from .engine_client import EngineClient
from .flows import ask, cancel, compare, generate, search
from .flows.context import Context
from .queue import JobQueue
from .requests import (
    AskFollowUp,
    AskNew,
    CancelJob,
    Compare,
    Generate,
    MoreResults,
    Request,
    SearchImage,
    SearchText,
    SimilarTo,
)
from .store import Database

log = logging.getLogger(__name__)


class Services(Context):
    """Everything a flow needs, and the dispatcher from requests to flows."""

    @classmethod
    def build(cls, settings: BotSettings, http: httpx.AsyncClient, db: Database | None = None) -> Services:
        """Wire the engine client and queue from the settings over a shared HTTP client (and the database)."""
        queue = JobQueue(
            max_concurrent=settings.engine_max_concurrent,
            per_user_cap=settings.user_open_jobs_max,
            cooldown_s=settings.user_cooldown_s,
        )
        return cls(settings, EngineClient.from_settings(http, settings), queue, db)

    async def handle(self, interaction: discord.Interaction[Any], request: Request) -> None:
        """Carry out `request` for `interaction` with the flow for its kind."""
        match request:
            case SearchText():
                await search.search_text(interaction, self, request)
            case SearchImage():
                await search.search_image(interaction, self, request)
            case MoreResults():
                await search.more_results(interaction, self, request)
            case SimilarTo():
                await search.similar_to(interaction, self, request)
            case Compare():
                await compare.compare(interaction, self, request)
            case Generate():
                await generate.generate(interaction, self, request)
            case CancelJob():
                await cancel.cancel(interaction, self, request)
            case AskFollowUp():
                await ask.follow_up(interaction, self, request)
            case AskNew():
                await ask.ask_new(interaction, self, request)
            case _:
                raise TypeError(f"no flow for {type(request).__name__}")

    async def handle_message(self, message: discord.Message, request: AskFollowUp) -> None:
        """A follow-up asked by @mentioning the bot in a thread."""
        await ask.follow_up_message(message, self, request)
