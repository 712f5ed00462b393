"""The bot's one set of user-facing error texts, and the edge where errors end: a friendly private line
for the user, the traceback in the log for the operator."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from .store.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

SORRY = "Something went wrong on my side; the operators have the details in the log. Please try again."
DB_BUSY = "The database is busy or unavailable right now; nothing is lost, please try again in a moment."


async def say_privately(interaction: discord.Interaction[Any], text: str) -> None:
    """A private line, as the first response or after one."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


async def report_unexpected(interaction: discord.Interaction[Any], error: Exception) -> None:
    """Log `error` with its traceback and tell the user briefly (never raises). A database that is down
    is not a bug: the user hears to try again, the log gets one line."""
    original = getattr(error, "original", error)
    data = getattr(interaction, "data", None) or {}
    command = getattr(interaction.command, "qualified_name", None) or data.get("custom_id")
    if isinstance(error, app_commands.CheckFailure):
        text = str(error) or "You can't use this command here."
    elif isinstance(original, DatabaseUnavailable):
        log.warning("%s: the database is unavailable (%s)", command, original)
        text = DB_BUSY
    else:
        log.exception("unexpected error in %s", command, exc_info=original)
        text = SORRY
    try:
        await say_privately(interaction, text)
    except discord.HTTPException:
        log.warning("could not tell the user about the error", exc_info=True)
