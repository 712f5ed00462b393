"""One student's spaced review, always private. A card's front is the question as the quiz asked it (its
image, its choices reshuffled in the card's own stable order), answered with letter buttons; the answer
rates the card (`review_cards.py`). A card with no stored question falls back to Anki's self-graded
loop: the image (front), then caption and source with Again / Hard / Good / Easy (back).

What is served: due cards (of one modality, or on a topic, when asked), at most
MIRAGE_REVIEW_NEW_PER_DAY cards new to review a day; or one quiz's missed cases ("Review missed cases"),
due or not, until each has been answered once in review.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from typing import Any

import discord
from fsrs import Rating

from engine.contract import SearchRequest

from ...engine_client import EngineError
from ...errors import DB_BUSY
from ...render import study, teach
from ...render.quiz import case_png
from ...requests import RateCard, Rerate, Review, ShowCardAnswer
from ...rules.quiz import Choice
from ...rules.review import ladder_of, shuffled_order
from ...store import cards, quizzes, review_queue
from ...store.errors import DatabaseUnavailable
from ...store.models import Card
from ...store.models import Review as ReviewRow
from ...ui.quiz_views import show_answer_view
from ...ui.teach_views import review_front_view, versioned_rate_view
from .live import QuizContext

log = logging.getLogger(__name__)

TOPIC_HITS = 10  # the engine's nearest atlas images to a topic, besides the cards whose caption names it
NO_LIMIT = 10**6
RERATED = "quiz-rerated"  # a quiz outcome's rating the student changed under the reveal (once)


async def review(interaction: discord.Interaction[Any], qc: QuizContext, request: Review) -> None:
    """/mirage review (or "Review missed cases"): the front of the first card to serve."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    await serve_next(interaction, qc, request, prefix="")


async def _scope(qc: QuizContext, user_id: int, request: Review) -> review_queue.Scope | str:
    """Which cards `request` reviews, or what to tell the student instead."""
    if request.quiz_id is not None:
        async with qc.db.session() as session:
            quiz = await quizzes.get_quiz(session, request.quiz_id)
            missed = await review_queue.missed_ids(session, request.quiz_id, user_id) if quiz else []
        if quiz is None or not missed:
            return teach.NOTHING_MISSED
        return review_queue.in_ids(missed, not_reviewed_since=quiz.created_at)
    if request.topic:
        async with qc.db.session() as session:
            ids = await review_queue.topic_ids(session, user_id, request.topic)
        try:
            found = await qc.engine.search(SearchRequest(query=request.topic, k=TOPIC_HITS, enrich=False))
            ids |= {hit.id for hit in found.hits}
        except EngineError as error:  # the captions' own words still make a topic
            log.info("no engine hits for review topic: %s", error.message)
        return review_queue.Scope(modality=request.modality, ids=frozenset(ids))
    return review_queue.Scope(modality=request.modality)


async def serve_next(
    interaction: discord.Interaction[Any], qc: QuizContext, request: Review, *, prefix: str
) -> None:
    """The next card's front in `request`'s scope (or 'nothing due'), as a private follow-up."""
    user_id = interaction.user.id
    label = teach.scope_label(request.modality, request.topic, request.quiz_id is not None)
    try:
        scope = await _scope(qc, user_id, request)
        if isinstance(scope, str):
            await interaction.followup.send(prefix + scope, ephemeral=True)
            return
        new_per_day = NO_LIMIT if request.quiz_id is not None else qc.settings.review_new_per_day
        async with qc.db.session() as session:
            card, count = await review_queue.next_card(session, user_id, new_per_day=new_per_day, scope=scope)
            asked = await review_queue.asked_as(session, user_id, card.atlas_id) if card else None
            version = await cards.card_version(session, card.id) if card else 0
    except DatabaseUnavailable:
        await interaction.followup.send(prefix + DB_BUSY, ephemeral=True)
        return
    if card is None:
        await interaction.followup.send(prefix + teach.nothing_due(label), ephemeral=True)
        return
    try:
        png = await asyncio.to_thread(case_png, await qc.engine.atlas_image(card.atlas_id))
    except EngineError as error:
        await interaction.followup.send(prefix + study.image_unavailable(error.message), ephemeral=True)
        return
    image = discord.File(io.BytesIO(png), "case-review.png")
    if asked is None:  # no question kept for it: the self-graded card
        front = prefix + study.review_front(count)
        await interaction.followup.send(front, file=image, view=show_answer_view(card.id), ephemeral=True)
        return
    choices = [Choice.from_json(c) for c in asked.choices]
    order = shuffled_order(len(choices), card.id, version)
    question = str((asked.payload or {}).get("question") or "Which caption belongs to this image?")
    text = teach.review_front(count, question, [choices[i].full_text for i in order], label)
    rungs = len(ladder_of(asked.payload, len(choices)))
    view = review_front_view(card.id, version, len(choices), int(time.time()), request, rungs=rungs)
    await interaction.followup.send(prefix + text, file=image, view=view, ephemeral=True)


async def own_card(interaction: discord.Interaction[Any], qc: QuizContext, card_id: int) -> Card | None:
    """The clicker's card, or None (and the clicker told) when it is someone else's or gone."""
    async with qc.db.session() as session:
        card = await session.get(Card, card_id)
    if card is None:
        await interaction.response.send_message(teach.CARD_REMOVED, ephemeral=True)
        return None
    if card.user_id != interaction.user.id:
        await interaction.response.send_message(study.NOT_YOUR_CARD, ephemeral=True)
        return None
    return card


async def show_answer(
    interaction: discord.Interaction[Any], qc: QuizContext, request: ShowCardAnswer
) -> None:
    """Turn a self-graded card over: caption, source and the four ratings (rating it once)."""
    card = await own_card(interaction, qc, request.card_id)
    if card is None:
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    async with qc.db.session() as session:
        version = await cards.card_version(session, card.id)
    try:
        item = await qc.engine.atlas_item(card.atlas_id)
    except EngineError:
        log.warning("could not fetch atlas item %s for a review", card.atlas_id, exc_info=True)
        item = None
    await interaction.followup.send(
        study.review_back(item, card.atlas_id), view=versioned_rate_view(card.id, version), ephemeral=True
    )


async def rate_card(interaction: discord.Interaction[Any], qc: QuizContext, request: RateCard) -> None:
    """A self-graded rating: the card rated once (never re-created), then the next card."""
    rating = Rating(request.rating)
    async with qc.db.session() as session:
        rated = await cards.rate_once(
            session,
            card_id=request.card_id,
            user_id=interaction.user.id,
            rating=rating,
            version=request.version,
        )
    refusal = {
        cards.RateOutcome.REMOVED: teach.CARD_REMOVED,
        cards.RateOutcome.NOT_YOURS: study.NOT_YOUR_CARD,
        cards.RateOutcome.ALREADY_RATED: teach.ALREADY_RATED,
    }.get(rated.outcome)
    if refusal is not None or rated.card is None:
        await interaction.response.send_message(refusal or teach.CARD_REMOVED, ephemeral=True)
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    await serve_next(interaction, qc, Review(), prefix=study.rated(rating, rated.card.due) + "\n")


async def rerate(interaction: discord.Interaction[Any], qc: QuizContext, request: Rerate) -> None:
    """A rating under a reveal: replaces, once, the rating the quiz outcome gave the clicker's card (in one
    transaction: only while the card's newest rating is still that quiz outcome)."""
    rating = Rating(request.rating)
    async with qc.db.session() as session:
        question = await quizzes.get_question(session, request.question_id)
        card = await cards.get_card(session, interaction.user.id, question.atlas_id) if question else None
        version = await cards.card_version(session, card.id) if card else 0
        newest = await session.get(ReviewRow, version) if version else None
        if question is None or card is None or newest is None:
            refusal: str | None = study.NO_CARD_TO_RATE
        elif newest.source != "quiz" or newest.reviewed_at != question.revealed_at:
            refusal = teach.ALREADY_RATED  # re-rated already, or reviewed since the reveal
        else:
            changed = await cards.change_once(
                session, card_id=card.id, user_id=card.user_id, version=version, rating=rating, source=RERATED
            )
            refusal = None if changed.outcome is cards.RateOutcome.RATED else teach.ALREADY_RATED
            card = changed.card or card
    if refusal is not None or card is None:
        await interaction.response.send_message(refusal or study.NO_CARD_TO_RATE, ephemeral=True)
        return
    await interaction.response.send_message(study.rated(rating, card.due), ephemeral=True)
