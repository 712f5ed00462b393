"""One student's numbers and data, and a server's leaderboard: /mirage progress, scores and forget-me."""

from __future__ import annotations

from typing import Any

import discord

from ...render import study
from ...requests import ForgetConfirmed, ForgetMe, Progress, Scores
from ...store import people, scores
from ...store.progress import progress as progress_of
from ...ui.quiz_views import forget_view
from .live import QuizContext


async def progress(interaction: discord.Interaction[Any], qc: QuizContext, request: Progress) -> None:
    """/mirage progress: due cards, streak, accuracy by modality (only you see it)."""
    async with qc.db.session() as session:
        mine = await progress_of(session, interaction.user.id)
    await interaction.response.send_message(study.progress_text(mine), ephemeral=True)


async def leaderboard(interaction: discord.Interaction[Any], qc: QuizContext, request: Scores) -> None:
    """/mirage scores: this server's top 10, this week and all time."""
    if interaction.guild_id is None:
        await interaction.response.send_message(study.SERVERS_ONLY, ephemeral=True)
        return
    async with qc.db.session() as session:
        weekly = await scores.leaderboard(session, interaction.guild_id, since=scores.week_start())
        all_time = await scores.leaderboard(session, interaction.guild_id)
    await interaction.response.send_message(
        study.scores_text(weekly, all_time), allowed_mentions=discord.AllowedMentions.none()
    )


async def forget_me(interaction: discord.Interaction[Any], qc: QuizContext, request: ForgetMe) -> None:
    """/mirage forget-me: say what will go, and ask for a click to confirm."""
    async with qc.db.session() as session:
        counts = await people.count_user_rows(session, interaction.user.id)
    await interaction.response.send_message(
        study.forget_prompt(counts), view=forget_view(interaction.user.id), ephemeral=True
    )


async def forget_confirmed(interaction: discord.Interaction[Any], qc: QuizContext, request: ForgetConfirmed) -> None:
    """The confirm button: delete every row about the clicker, and drop them from the quizzes in play."""
    async with qc.db.session() as session:
        counts = await people.forget_user(session, interaction.user.id)
    qc.quizzes.forget(interaction.user.id)
    await interaction.response.edit_message(content=study.forgotten(counts), view=None)
