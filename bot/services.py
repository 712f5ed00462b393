"""The bot's shared parts, built once in `setup_hook` and reached from any interaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord
import httpx

from .config import BotSettings
from .engine_client import EngineClient
from .queue import JobQueue


@dataclass
class Services:
    """Settings, the engine client and the job queue."""

    settings: BotSettings
    engine: EngineClient
    queue: JobQueue

    @classmethod
    def build(cls, settings: BotSettings, http: httpx.AsyncClient) -> Services:
        """Wire the engine client and queue from the settings over a shared HTTP client."""
        queue = JobQueue(
            max_concurrent=settings.engine_max_concurrent,
            per_user_cap=settings.user_open_jobs_max,
            cooldown_s=settings.user_cooldown_s,
        )
        return cls(settings, EngineClient.from_settings(http, settings), queue)


def services_of(interaction: discord.Interaction[Any]) -> Services:
    """The services of the client that received `interaction`."""
    return interaction.client.services  # type: ignore[attr-defined]
