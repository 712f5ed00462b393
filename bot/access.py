"""Server admins' limits: which channels and roles may use the bot (settings)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import discord

from .config import BotSettings


def access_denied(interaction: discord.Interaction[Any], settings: BotSettings) -> str | None:
    """Why this user may not use the bot here, or None when they may.

    The limits are a server's: in a DM with the bot (no guild) they do not apply; only the DM commands
    (bot/ui/commands.py DM_COMMANDS) and their buttons answer there."""
    if interaction.guild_id is None:
        return None
    channel = interaction.channel
    return denied_for(
        settings,
        channel_ids={interaction.channel_id, getattr(channel, "parent_id", None)},  # a thread counts as its channel
        role_ids=(role.id for role in getattr(interaction.user, "roles", [])),
    )


def message_access_denied(message: discord.Message, settings: BotSettings) -> str | None:
    """The same limits for a message that @mentions the bot."""
    channel = message.channel
    return denied_for(
        settings,
        channel_ids={channel.id, getattr(channel, "parent_id", None)},
        role_ids=(role.id for role in getattr(message.author, "roles", [])),
    )


def denied_for(settings: BotSettings, *, channel_ids: set[int | None], role_ids: Iterable[int]) -> str | None:
    """Why the limits refuse a user with `role_ids` in one of `channel_ids`, or None."""
    if settings.allowed_channel_ids and not channel_ids & set(settings.allowed_channel_ids):
        places = ", ".join(f"<#{cid}>" for cid in settings.allowed_channel_ids)
        return f"MIRAGE is not enabled in this channel. Please use it in {places}."
    if settings.allowed_role_ids and not set(role_ids) & set(settings.allowed_role_ids):
        needed = ", ".join(f"<@&{rid}>" for rid in settings.allowed_role_ids)
        return f"You need one of these roles to use MIRAGE: {needed}."
    return None
