"""How the UI hands a request over: to the services of the client that received the interaction,
found at run time (never imported, so imports point one way: ui → requests, never ui → flows)."""

from __future__ import annotations

from typing import Any

import discord

from ..requests import Request


async def hand_over(interaction: discord.Interaction[Any], request: Request) -> None:
    """Let the bot's services carry out `request` for `interaction`."""
    await interaction.client.services.handle(interaction, request)


def settings_of(interaction: discord.Interaction[Any]) -> Any:
    """The bot's settings (for the access checks made before any response)."""
    return interaction.client.services.settings
