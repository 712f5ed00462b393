"""Server admins' limits: which channels and roles may use the bot (settings)."""

from __future__ import annotations

from typing import Any

import discord

from .config import BotSettings


def access_denied(interaction: discord.Interaction[Any], settings: BotSettings) -> str | None:
    """Why this user may not use the bot here, or None when they may."""
    if settings.allowed_channel_ids:
        channel = interaction.channel
        here = {interaction.channel_id, getattr(channel, "parent_id", None)}  # a thread counts as its channel
        if not here & set(settings.allowed_channel_ids):
            places = ", ".join(f"<#{cid}>" for cid in settings.allowed_channel_ids)
            return f"MIRAGE is not enabled in this channel. Please use it in {places}."
    if settings.allowed_role_ids:
        roles = {role.id for role in getattr(interaction.user, "roles", [])}
        if not roles & set(settings.allowed_role_ids):
            needed = ", ".join(f"<@&{rid}>" for rid in settings.allowed_role_ids)
            return f"You need one of these roles to use MIRAGE: {needed}."
    return None
