"""The follow-up modal: one question, limited by Discord itself to the contract's length."""

from __future__ import annotations

from typing import Any

import discord

from engine.contract import ASK_QUESTION_MAX_CHARS

from ..errors import report_unexpected
from ..requests import AskFollowUp
from .dispatch import hand_over


class FollowUpModal(discord.ui.Modal, title="Ask a follow-up"):
    """Asks one question about the images in a thread; its answer lands in that thread."""

    question: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Your question about these images",
        style=discord.TextStyle.paragraph,
        placeholder="e.g. Why is the lesion bright on T2? What else could this be?",
        min_length=1,
        max_length=ASK_QUESTION_MAX_CHARS,  # Discord refuses longer input; the engine checks again
    )

    def __init__(self, *, thread_id: int) -> None:
        super().__init__(timeout=15 * 60, custom_id=f"mirage:ask-modal:{thread_id}")
        self.thread_id = thread_id

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await hand_over(interaction, AskFollowUp(self.thread_id, self.question.value.strip()))

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception, /) -> None:  # noqa: D102
        await report_unexpected(interaction, error)
