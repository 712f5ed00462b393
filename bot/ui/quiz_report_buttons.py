"""⚠️ Report under every question, and the reason buttons it answers with privately. Each only builds a
request (bot/requests.py) and hands it over; bot/flows/quiz/report.py does the work.

Custom ids (on messages already posted: change a format only with a template that still reads the old
one): `mirage:quiz:rep:<question>` and `mirage:quiz:rr:<question>:<reason>`.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from ..requests import ReportGiven, ReportQuestion
from ..rules.quiz_fair import REASON_LABELS, ReportReason
from .dispatch import hand_over
from .quiz_buttons import QuizButton

REASON_PATTERN = "|".join(re.escape(reason.value) for reason in ReportReason)


class ReportButton(QuizButton, template=r"mirage:quiz:rep:(?P<question>[0-9]{1,18})"):
    """⚠️ Report: flag the question as wrong or unfair (asks for a reason, privately)."""

    def __init__(self, question_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Report", emoji="⚠️", style=discord.ButtonStyle.secondary,
                custom_id=f"mirage:quiz:rep:{question_id}",
            ),
            row=1,
        )
        self.question_id = question_id

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> ReportButton:  # noqa: D102
        return cls(int(match["question"]))

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await hand_over(interaction, ReportQuestion(self.question_id))


class ReportReasonButton(QuizButton, template=rf"mirage:quiz:rr:(?P<question>[0-9]{{1,18}}):(?P<reason>{REASON_PATTERN})"):
    """One reason for a report (on the reporter's private message)."""

    def __init__(self, question_id: int, reason: ReportReason) -> None:
        super().__init__(
            discord.ui.Button(
                label=REASON_LABELS[reason], style=discord.ButtonStyle.secondary,
                custom_id=f"mirage:quiz:rr:{question_id}:{reason.value}",
            )
        )
        self.question_id, self.reason = question_id, reason

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> ReportReasonButton:  # noqa: D102
        return cls(int(match["question"]), ReportReason(match["reason"]))

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await hand_over(interaction, ReportGiven(self.question_id, self.reason.value))


REPORT_ITEMS = (ReportButton, ReportReasonButton)
