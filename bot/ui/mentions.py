"""A message that @mentions the bot in a thread is a follow-up question (Discord delivers the content of
messages that mention the bot without the privileged message-content intent)."""

from __future__ import annotations

import re
from typing import Any

import discord

from ..requests import AskFollowUp
from ..threads import is_thread


def follow_up_from(message: discord.Message, bot_user: Any) -> AskFollowUp | None:
    """The follow-up this message asks, or None when it is not one (not in a thread, no mention of the bot,
    or sent by a bot). The mention itself is taken out of the question; its length is checked by the flow."""
    if bot_user is None or message.author.bot or not is_thread(message.channel):
        return None
    if not any(getattr(user, "id", None) == bot_user.id for user in message.mentions):
        return None
    question = " ".join(re.sub(rf"<@!?{bot_user.id}>", " ", message.content or "").split())
    return AskFollowUp(message.channel.id, question)
