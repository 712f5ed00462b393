"""The edge where unexpected errors end: a friendly ephemeral line for the user, the traceback in the log."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

log = logging.getLogger(__name__)

SORRY = "Something went wrong on my side; the operators have the details in the log. Please try again."


async def report_unexpected(interaction: discord.Interaction[Any], error: Exception) -> None:
    """Log `error` with its traceback and tell the user briefly (never raises)."""
    original = getattr(error, "original", error)
    if isinstance(error, app_commands.CheckFailure):
        text = str(error) or "You can't use this command here."
    else:
        data = getattr(interaction, "data", None) or {}
        command = getattr(interaction.command, "qualified_name", None) or data.get("custom_id")
        log.exception("unexpected error in %s", command, exc_info=original)
        text = SORRY
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell the user about the error", exc_info=True)
