"""Cancel: one's own request, while it waits or runs; after a restart the database says what became of it."""

from __future__ import annotations

from typing import Any

import discord

from ..requests import CancelJob
from ..store import DatabaseUnavailable
from . import memory
from .context import Context

ENDED = {
    "interrupted": "That request was cut short when the bot restarted. Please run it again.",
    "cancelled": "That request was already cancelled.",
}


async def cancel(interaction: discord.Interaction[Any], ctx: Context, request: CancelJob) -> None:
    """Cancel the job if it is still open here; otherwise say how it ended."""
    if ctx.queue.cancel(request.job_id, interaction.user.id):
        await interaction.response.send_message("Cancelling your request.", ephemeral=True)
        return
    try:
        status = await memory.job_status(ctx, request.job_id)  # within memory.LOOKUP_TIMEOUT_S
    except DatabaseUnavailable:
        status = None
    await interaction.response.send_message(
        ENDED.get(status or "", "That request has already finished."), ephemeral=True
    )
