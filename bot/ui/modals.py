"""The follow-up modal: one question, limited by Discord itself to the contract's length.

The submitted form is read from the interaction itself (`follow_up_from_modal`, called by the client for
every modal submit), not by the Modal object that sent it: a bot restarted between the click and the
submit has no such object any more, and the question must still be answered.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, cast

import discord

from engine.contract import ASK_QUESTION_MAX_CHARS

from ..requests import AskFollowUp

QUESTION_FIELD = "question"
MODAL_ID = re.compile(r"mirage:ask-modal:(?P<thread>[0-9]{1,20}):[0-9a-f]{1,16}")


class FollowUpModal(discord.ui.Modal, title="Ask a follow-up"):
    """Asks one question about the images in a thread; its answer lands in that thread."""

    question: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Your question about these images",
        custom_id=QUESTION_FIELD,
        style=discord.TextStyle.paragraph,
        placeholder="e.g. Why is the lesion bright on T2? What else could this be?",
        min_length=1,
        max_length=ASK_QUESTION_MAX_CHARS,  # Discord refuses longer input; the engine checks again
    )

    def __init__(self, *, thread_id: int) -> None:
        # A fresh id per form: two students asking in one thread at once must not share one.
        super().__init__(timeout=15 * 60, custom_id=f"mirage:ask-modal:{thread_id}:{secrets.token_hex(4)}")
        self.thread_id = thread_id

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        return None  # answered by the client from the interaction itself (see the module's docstring)


def follow_up_from_modal(interaction: discord.Interaction[Any]) -> AskFollowUp | None:
    """The follow-up a submitted follow-up form asks, or None when the interaction is not one."""
    if interaction.type is not discord.InteractionType.modal_submit:
        return None
    data = cast(dict[str, Any], interaction.data or {})  # a modal submit's data is a plain JSON object
    match = MODAL_ID.fullmatch(str(data.get("custom_id", "")))
    if match is None:
        return None
    values = [
        str(field.get("value") or "")
        for row in data.get("components") or []
        for field in row.get("components") or []
        if field.get("custom_id") == QUESTION_FIELD
    ]
    return AskFollowUp(int(match["thread"]), values[0].strip() if values else "")
