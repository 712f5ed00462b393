"""Reports on questions: the ⚠️ Report button asks for a reason privately; a reason is stored once per
server, item and student (a moderator's report, or two students', retires the item from that server's
quizzes); `/mirage reports` lists them for members who can manage messages.

A report on a question that no longer exists (its quiz was deleted) is answered privately and changes
nothing. Reports stay possible after the reveal: unfairness often shows only there.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from ...errors import DB_BUSY
from ...render import quiz_fair as render
from ...requests import ListReports, ReportGiven, ReportQuestion
from ...rules.quiz_fair import ReportReason
from ...store import quizzes, reports
from ...store.errors import DatabaseUnavailable
from ...ui.quiz_views import report_reasons_view
from .live import QuizContext

log = logging.getLogger(__name__)


def _is_moderator(interaction: discord.Interaction[Any]) -> bool:
    """Manage Messages in this channel (never in a DM: nobody moderates a solo quiz)."""
    return interaction.guild_id is not None and bool(interaction.permissions.manage_messages)


async def ask_reason(interaction: discord.Interaction[Any], qc: QuizContext, request: ReportQuestion) -> None:
    """The Report button: the reasons, privately (or why there is nothing to report)."""
    async with qc.db.session() as session:
        question = await quizzes.get_question(session, request.question_id)
    if question is None:
        await interaction.response.send_message(render.REPORT_GONE, ephemeral=True)
        return
    await interaction.response.send_message(
        render.REPORT_ASK, view=report_reasons_view(request.question_id), ephemeral=True
    )


async def report(interaction: discord.Interaction[Any], qc: QuizContext, request: ReportGiven) -> None:
    """A reason picked: store the report once and say what follows from it, privately."""
    reason = ReportReason(request.reason)
    moderator = _is_moderator(interaction)
    try:
        async with qc.db.session() as session:
            question = await quizzes.get_question(session, request.question_id)
            quiz = await quizzes.get_quiz(session, question.quiz_id) if question is not None else None
            if question is None or quiz is None:
                outcome = None
            else:
                outcome = await reports.add_report(
                    session, guild_id=quiz.guild_id, atlas_id=question.atlas_id, question_id=question.id,
                    user_id=interaction.user.id, reason=reason, is_moderator=moderator,
                )  # fmt: skip
    except DatabaseUnavailable:
        await interaction.response.send_message(DB_BUSY, ephemeral=True)
        return
    if outcome is None:
        await interaction.response.send_message(render.REPORT_GONE, ephemeral=True)
        return
    if outcome.created:
        log.info("question %s reported (%s, moderator=%s)", request.question_id, reason.value, moderator)
        text = render.report_thanks(reason, retired=outcome.retired, moderator=moderator)
    else:
        text = render.report_again(outcome.reason, retired=outcome.retired)
    await interaction.response.send_message(text, ephemeral=True)


async def list_reports(interaction: discord.Interaction[Any], qc: QuizContext, request: ListReports) -> None:
    """/mirage reports: the server's reported items, for members who can manage messages."""
    if interaction.guild_id is None:
        await interaction.response.send_message(render.REPORTS_NOT_IN_DMS, ephemeral=True)
        return
    if not _is_moderator(interaction):
        await interaction.response.send_message(render.REPORTS_ONLY_MODERATORS, ephemeral=True)
        return
    async with qc.db.session() as session:
        items, total = await reports.server_reports(session, interaction.guild_id)
    await interaction.response.send_message(render.reports_text(items, total), ephemeral=True)
