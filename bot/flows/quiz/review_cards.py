"""A letter on a review card's front, and changing the rating it gave (once).

1. in one transaction: the card locked and checked (gone → "removed", someone else's → "not yours",
   moved on since the message was shown → "already rated"; nothing changed in each case), the letter
   read through the card's shuffled order, the rating derived from the answer and its time
   (`bot.rules.review`), the card scheduled by FSRS;
2. privately: right or wrong, the right caption and source, the rating with buttons to change it once;
3. the next card of the same review.
"""

from __future__ import annotations

import time
from typing import Any

import discord
from fsrs import Rating

from ...render import study, teach
from ...render.lines import MESSAGE_MAX_CHARS
from ...requests import ChangeRating, ReviewAnswer, ReviewHint
from ...rules.quiz import Choice, letter
from ...rules.review import Pace, ladder_of, review_rating, shuffled_order
from ...store import cards, review_queue
from ...store.models import Card
from ...ui.teach_views import change_rating_view, review_front_view
from .live import QuizContext
from .review import serve_next

REFUSALS = {
    cards.RateOutcome.REMOVED: teach.CARD_REMOVED,
    cards.RateOutcome.NOT_YOURS: study.NOT_YOUR_CARD,
    cards.RateOutcome.ALREADY_RATED: teach.ALREADY_RATED,
}


async def answer(interaction: discord.Interaction[Any], qc: QuizContext, request: ReviewAnswer) -> None:
    """Steps 1–3 for one letter."""
    user_id = interaction.user.id
    pace = Pace(qc.settings.review_fast_s, qc.settings.review_slow_s)
    # 1. one transaction: check, read the answer, rate
    async with qc.db.session() as session:
        card = await session.get(Card, request.card_id)
        asked = await review_queue.asked_as(session, user_id, card.atlas_id) if card else None
        outcome: cards.Rated | None = None
        if card is None or card.user_id != user_id:
            outcome = cards.Rated(cards.RateOutcome.REMOVED if card is None else cards.RateOutcome.NOT_YOURS)
        elif asked is None:  # its question is no longer stored: nothing to check the letter against
            await interaction.response.send_message(teach.QUESTION_GONE, ephemeral=True)
            return
        else:
            order = shuffled_order(len(asked.choices), card.id, request.version)
            chosen = order[request.position] if request.position < len(order) else -1
            correct = chosen == asked.answer_index
            elapsed = max(0.0, time.time() - request.shown_at)
            rating = review_rating(correct=correct, hints=request.hints, elapsed_s=elapsed, pace=pace)
            outcome = await cards.rate_once(
                session, card_id=card.id, user_id=user_id, rating=rating, version=request.version
            )
    if outcome.outcome is not cards.RateOutcome.RATED or outcome.card is None or asked is None:
        await interaction.response.send_message(
            REFUSALS.get(outcome.outcome, teach.CARD_REMOVED), ephemeral=True
        )
        return
    # 2. the verdict, privately, with the rating to change once
    right = Choice.from_json(asked.choices[asked.answer_index])
    text = teach.verdict(
        correct=correct, chosen=letter(request.position), right=letter(order.index(asked.answer_index)),
        caption=right.full_text, source=teach.source_text(right.source, right.atlas_id), rating=rating,
        due=outcome.card.due,
    )  # fmt: skip
    view = change_rating_view(outcome.card.id, outcome.version, rating)
    await interaction.response.send_message(text, view=view, ephemeral=True)
    # 3. the next card of the same review
    await serve_next(interaction, qc, request.scope, prefix="")


async def change_rating(
    interaction: discord.Interaction[Any], qc: QuizContext, request: ChangeRating
) -> None:
    """Replace the rating an answer gave, once (a second click changes nothing)."""
    rating = Rating(request.rating)
    async with qc.db.session() as session:
        outcome = await cards.change_once(
            session,
            card_id=request.card_id,
            user_id=interaction.user.id,
            version=request.version,
            rating=rating,
        )
    if outcome.outcome is not cards.RateOutcome.RATED or outcome.card is None:
        await interaction.response.send_message(
            REFUSALS.get(outcome.outcome, teach.CARD_REMOVED), ephemeral=True
        )
        return
    await interaction.response.send_message(teach.changed(rating, outcome.card.due), ephemeral=True)


async def hint(interaction: discord.Interaction[Any], qc: QuizContext, request: ReviewHint) -> None:
    """The next rung of a review card's hint ladder, on the card's own message, whose letters now answer
    after it (a right answer then rates Hard)."""
    user_id = interaction.user.id
    async with qc.db.session() as session:
        card = await session.get(Card, request.card_id)
        asked = await review_queue.asked_as(session, user_id, card.atlas_id) if card else None
        version = await cards.card_version(session, card.id) if card else 0
    refusal = None
    if card is None:
        refusal = teach.CARD_REMOVED
    elif card.user_id != user_id:
        refusal = study.NOT_YOUR_CARD
    elif version != request.version:
        refusal = teach.ALREADY_RATED
    elif asked is None:
        refusal = teach.QUESTION_GONE
    ladder = ladder_of(asked.payload, len(asked.choices)) if asked else []
    if refusal is None and not 1 <= request.level <= len(ladder):
        refusal = teach.NO_MORE_HINTS
    if refusal is not None or card is None or asked is None:
        await interaction.response.send_message(refusal or teach.CARD_REMOVED, ephemeral=True)
        return
    order = shuffled_order(len(asked.choices), card.id, version)
    text = teach.review_hint(request.level, len(ladder), ladder[request.level - 1], order)
    view = review_front_view(
        card.id,
        version,
        len(asked.choices),
        request.shown_at,
        request.scope,
        hints=request.level,
        rungs=len(ladder),
    )
    # the card's own message takes the hint and the letters that answer after it (where it fits)
    front = getattr(getattr(interaction, "message", None), "content", None)
    if front and len(front) + len(text) + 1 <= MESSAGE_MAX_CHARS:
        await interaction.response.edit_message(content=f"{front}\n{text}", view=view)
    else:
        await interaction.response.send_message(text, view=view, ephemeral=True)
