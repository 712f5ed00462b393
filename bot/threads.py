"""Discord's thread channel types: where answers and follow-ups live."""

from __future__ import annotations

from typing import Any

import discord

THREAD_TYPES = (
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
)


def is_thread(channel: Any) -> bool:
    """Whether `channel` is a thread (of any kind)."""
    return getattr(channel, "type", None) in THREAD_TYPES
