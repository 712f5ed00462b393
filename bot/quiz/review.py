"""One student's side of the quizzes, always private: spaced review, re-rating, progress, forget-me; and
the server's leaderboard.

Review is Anki's loop: the image alone (front), then its caption and source with Again / Hard /
Good / Easy (back); the rating goes to FSRS (`bot.store.cards`) and the next due card follows.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING, Any

import discord
from fsrs import Rating

from bot.engine_client import EngineClient, EngineError
from bot.store import cards, people, quizzes, scores
from bot.store.database import Database
from bot.store.errors import DatabaseUnavailable
from bot.store.models import Card
from bot.store.progress import progress

from . import render, ui

if TYPE_CHECKING:
    from .flow import QuizFlow

log = logging.getLogger(__name__)


class ReviewFlow:
    """Review, progress, scores and forget-me for this bot process."""

    def __init__(self, engine: EngineClient, db: Database, game: QuizFlow) -> None:
        self.engine = engine
        self.db = db
        self.game = game

    # --- review ---------------------------------------------------------------------------------
    async def review(self, interaction: discord.Interaction[Any]) -> None:
        """/mirage review: the front of the first due card."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._serve_next(interaction, prefix="")

    async def _serve_next(self, interaction: discord.Interaction[Any], *, prefix: str) -> None:
        """The next due card's front (or 'nothing due'), as a private follow-up."""
        user_id = interaction.user.id
        try:
            async with self.db.session() as session:
                due = await cards.due_cards(session, user_id, limit=1)
                count = await cards.due_count(session, user_id)
        except DatabaseUnavailable:
            await interaction.followup.send(prefix + ui.DB_UNAVAILABLE, ephemeral=True)
            return
        if not due:
            await interaction.followup.send(prefix + render.nothing_due(), ephemeral=True)
            return
        card = due[0]
        try:
            png = await asyncio.to_thread(render.case_png, await self.engine.atlas_image(card.atlas_id))
        except EngineError as error:
            await interaction.followup.send(
                prefix + f"❌ I couldn't fetch the image of your next card ({error.message}).", ephemeral=True
            )
            return
        await interaction.followup.send(
            prefix + render.review_front(count),
            file=discord.File(io.BytesIO(png), "case-review.png"),
            view=ui.show_answer_view(card.id),
            ephemeral=True,
        )

    async def _own_card(self, interaction: discord.Interaction[Any], card_id: int) -> Card | None:
        async with self.db.session() as session:
            card = await session.get(Card, card_id)
        if card is None or card.user_id != interaction.user.id:
            await interaction.response.send_message("That card is not one of yours.", ephemeral=True)
            return None
        return card

    async def show_answer(self, interaction: discord.Interaction[Any], card_id: int) -> None:
        """Turn the card over: caption, source and the four ratings."""
        card = await self._own_card(interaction, card_id)
        if card is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            item = await self.engine.atlas_item(card.atlas_id)
        except EngineError:
            log.warning("could not fetch atlas item %s for a review", card.atlas_id, exc_info=True)
            item = None
        await interaction.followup.send(
            render.review_back(item, card.atlas_id), view=ui.review_rate_view(card.id), ephemeral=True
        )

    async def rate_card(self, interaction: discord.Interaction[Any], card_id: int, rating: Rating) -> None:
        """A rating in review: schedule the card with FSRS, then the next due card."""
        card = await self._own_card(interaction, card_id)
        if card is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.db.session() as session:
            card = await cards.review(
                session, user_id=card.user_id, atlas_id=card.atlas_id, modality=card.modality,
                rating=rating, source="review",
            )
        await self._serve_next(interaction, prefix=render.rated(ui.RATING_LABELS[rating], card.due) + "\n")

    async def rerate_question(self, interaction: discord.Interaction[Any], question_id: int, rating: Rating) -> None:
        """A rating under a reveal: replaces the rating the quiz outcome gave the clicker's card."""
        async with self.db.session() as session:
            question = await quizzes.get_question(session, question_id)
            card = await cards.get_card(session, interaction.user.id, question.atlas_id) if question else None
            if card is not None:
                try:
                    card = await cards.rerate(session, user_id=interaction.user.id, card_id=card.id, rating=rating)
                except LookupError:
                    card = None
        if card is None:
            await interaction.response.send_message(
                "You didn't answer this case, so there is no review card of yours to rate.", ephemeral=True
            )
            return
        await interaction.response.send_message(render.rated(ui.RATING_LABELS[rating], card.due), ephemeral=True)

    # --- progress and scores ------------------------------------------------------------------
    async def progress(self, interaction: discord.Interaction[Any]) -> None:
        """/mirage progress: due cards, streak, accuracy by modality (only you see it)."""
        async with self.db.session() as session:
            mine = await progress(session, interaction.user.id)
        await interaction.response.send_message(render.progress_text(mine), ephemeral=True)

    async def scores(self, interaction: discord.Interaction[Any]) -> None:
        """/mirage scores: this server's top 10, this week and all time."""
        if interaction.guild_id is None:
            await interaction.response.send_message("Leaderboards belong to servers; use this in one.", ephemeral=True)
            return
        async with self.db.session() as session:
            weekly = await scores.leaderboard(session, interaction.guild_id, since=scores.week_start())
            all_time = await scores.leaderboard(session, interaction.guild_id)
        await interaction.response.send_message(
            render.scores_text(weekly, all_time), allowed_mentions=discord.AllowedMentions.none()
        )

    # --- forget-me ----------------------------------------------------------------------------
    async def forget_me(self, interaction: discord.Interaction[Any]) -> None:
        """/mirage forget-me: say what will go, and ask for a click to confirm."""
        async with self.db.session() as session:
            counts = await people.count_user_rows(session, interaction.user.id)
        await interaction.response.send_message(
            render.forget_prompt(counts), view=ui.forget_view(interaction.user.id), ephemeral=True
        )

    async def forget_confirmed(self, interaction: discord.Interaction[Any]) -> None:
        """The confirm button: delete every row about the clicker."""
        async with self.db.session() as session:
            counts = await people.forget_user(session, interaction.user.id)
        self.game.forget(interaction.user.id)
        await interaction.response.edit_message(content=render.forgotten(counts), view=None)
