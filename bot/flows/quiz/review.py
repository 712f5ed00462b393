"""One student's spaced review, always private. Anki's loop: the image alone (front), then its caption
and source with Again / Hard / Good / Easy (back); the rating goes to FSRS (`bot.store.cards`) and the
next due card follows. A rating under a reveal replaces the one the quiz outcome gave.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import discord
from fsrs import Rating

from ...engine_client import EngineError
from ...errors import DB_BUSY
from ...render import study
from ...render.quiz import case_png
from ...requests import RateCard, Rerate, Review, ShowCardAnswer
from ...store import cards, quizzes
from ...store.errors import DatabaseUnavailable
from ...store.models import Card
from ...ui.quiz_views import review_rate_view, show_answer_view
from .live import QuizContext

log = logging.getLogger(__name__)


async def review(interaction: discord.Interaction[Any], qc: QuizContext, request: Review) -> None:
    """/mirage review: the front of the first due card."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    await _serve_next(interaction, qc, prefix="")


async def _serve_next(interaction: discord.Interaction[Any], qc: QuizContext, *, prefix: str) -> None:
    """The next due card's front (or 'nothing due'), as a private follow-up."""
    user_id = interaction.user.id
    try:
        async with qc.db.session() as session:
            due = await cards.due_cards(session, user_id, limit=1)
            count = await cards.due_count(session, user_id)
    except DatabaseUnavailable:
        await interaction.followup.send(prefix + DB_BUSY, ephemeral=True)
        return
    if not due:
        await interaction.followup.send(prefix + study.nothing_due(), ephemeral=True)
        return
    card = due[0]
    try:
        png = await asyncio.to_thread(case_png, await qc.engine.atlas_image(card.atlas_id))
    except EngineError as error:
        await interaction.followup.send(prefix + study.image_unavailable(error.message), ephemeral=True)
        return
    await interaction.followup.send(
        prefix + study.review_front(count),
        file=discord.File(io.BytesIO(png), "case-review.png"),
        view=show_answer_view(card.id),
        ephemeral=True,
    )


async def _own_card(interaction: discord.Interaction[Any], qc: QuizContext, card_id: int) -> Card | None:
    """The clicker's card, or None (and the clicker told) when it is someone else's or gone."""
    async with qc.db.session() as session:
        card = await session.get(Card, card_id)
    if card is None or card.user_id != interaction.user.id:
        await interaction.response.send_message(study.NOT_YOUR_CARD, ephemeral=True)
        return None
    return card


async def show_answer(interaction: discord.Interaction[Any], qc: QuizContext, request: ShowCardAnswer) -> None:
    """Turn the card over: caption, source and the four ratings."""
    card = await _own_card(interaction, qc, request.card_id)
    if card is None:
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        item = await qc.engine.atlas_item(card.atlas_id)
    except EngineError:
        log.warning("could not fetch atlas item %s for a review", card.atlas_id, exc_info=True)
        item = None
    await interaction.followup.send(
        study.review_back(item, card.atlas_id), view=review_rate_view(card.id), ephemeral=True
    )


async def rate_card(interaction: discord.Interaction[Any], qc: QuizContext, request: RateCard) -> None:
    """A rating in review: schedule the card with FSRS, then the next due card."""
    card = await _own_card(interaction, qc, request.card_id)
    if card is None:
        return
    rating = Rating(request.rating)
    await interaction.response.defer(ephemeral=True, thinking=True)
    async with qc.db.session() as session:
        card = await cards.review(
            session, user_id=card.user_id, atlas_id=card.atlas_id, modality=card.modality,
            rating=rating, source="review",
        )  # fmt: skip
    await _serve_next(interaction, qc, prefix=study.rated(rating, card.due) + "\n")


async def rerate(interaction: discord.Interaction[Any], qc: QuizContext, request: Rerate) -> None:
    """A rating under a reveal: replaces the rating the quiz outcome gave the clicker's card."""
    rating = Rating(request.rating)
    async with qc.db.session() as session:
        question = await quizzes.get_question(session, request.question_id)
        card = await cards.get_card(session, interaction.user.id, question.atlas_id) if question else None
        if card is not None:
            try:
                card = await cards.rerate(session, user_id=interaction.user.id, card_id=card.id, rating=rating)
            except LookupError:
                card = None
    if card is None:
        await interaction.response.send_message(study.NO_CARD_TO_RATE, ephemeral=True)
        return
    await interaction.response.send_message(study.rated(rating, card.due), ephemeral=True)
