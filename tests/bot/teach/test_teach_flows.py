"""Bad input to the reveal's and review's buttons, through the services as a click would come (database
on SQLite and PostgreSQL, Discord faked at its edge): each is answered privately and clearly, and nothing
changes in the database."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from fsrs import Rating
from sqlalchemy import func, select, update

from bot.render import study, teach
from bot.requests import ChangeRating, RateCard, Rerate, Review, ReviewAnswer, ReviewHint, WhyChoice
from bot.rules.review import shuffled_order
from bot.services import Services
from bot.store import Database, answers, cards, quizzes, settle
from bot.store.models import Card
from bot.store.models import Review as ReviewRow

from ..fakes import FakeInteraction

ANN, BEN = 21, 22
CAPTIONS = [{"text": t, "full_text": f"caption {t}", "id": f"ROCO_{t}"} for t in "ABCD"]
MODALITIES = [{"text": m, "full_text": m, "id": None} for m in ("ct", "mri", "xray", "ultrasound")]


async def _question(
    db: Database,
    choices: list[dict],
    *,
    reveal: bool,
    picks: dict[int, int] | None = None,
    payload: dict | None = None,
) -> int:
    async with db.session() as s:
        quiz = await quizzes.start_quiz(
            s, thread_id=700 + len(choices) + int(reveal) * 10 + len(picks or {}), guild_id=900, starter_id=ANN,
            kind="caption", modality=None, question_count=1,
        )  # fmt: skip
        question = await quizzes.add_question(
            s,
            quiz.id,
            position=0,
            atlas_id="ROCO_A",
            modality="ct",
            choices=choices,
            answer_index=0,
            deadline=None,
            payload=payload,
        )
    for user, choice in (picks or {}).items():
        async with db.session() as s:
            await answers.record_answer(s, question.id, user, choice)
    if reveal:
        async with db.session() as s:
            await settle.settle_question(s, question.id)
    return question.id


async def _counts(db: Database) -> tuple[int, int]:
    async with db.session() as s:
        return (
            int(await s.scalar(select(func.count()).select_from(Card))),
            int(await s.scalar(select(func.count()).select_from(ReviewRow))),
        )


async def _click(services: Services, request: object, user: int) -> str:
    interaction = FakeInteraction(services, user_id=user)
    await services.handle(interaction, request)  # type: ignore[arg-type]
    return interaction.ephemeral_text


async def test_why_on_a_question_gone_unrevealed_or_without_images_is_refused_privately(
    make_services: Callable[..., Services], db: Database
):
    services = make_services(db=db)
    assert await _click(services, WhyChoice(987654), BEN) == teach.QUESTION_GONE
    open_id = await _question(db, CAPTIONS, reveal=False)
    assert await _click(services, WhyChoice(open_id), BEN) == teach.NOT_REVEALED
    modality_id = await _question(db, MODALITIES, reveal=True)
    assert await _click(services, WhyChoice(modality_id), BEN) == teach.NO_WHY_FOR_MODALITY


async def test_review_clicks_by_someone_else_on_a_removed_card_or_twice_change_nothing(
    make_services: Callable[..., Services], db: Database
):
    services = make_services(db=db)
    await _question(db, CAPTIONS, reveal=True, picks={ANN: 1})
    async with db.session() as s:
        card = await cards.get_card(s, ANN, "ROCO_A")
        version = await cards.card_version(s, card.id)
    before = await _counts(db)
    stranger = await _click(services, ReviewAnswer(card.id, version, 0, 0, Review()), BEN)
    assert stranger == study.NOT_YOUR_CARD
    assert await _click(services, RateCard(card.id + 999, int(Rating.Good), 1), ANN) == teach.CARD_REMOVED
    assert (
        await _click(services, ChangeRating(card.id, version + 999, int(Rating.Easy)), ANN)
        == teach.ALREADY_RATED
    )
    assert (
        await _click(services, RateCard(card.id, int(Rating.Good), version + 999), ANN) == teach.ALREADY_RATED
    )
    assert await _click(services, Review(quiz_id=424242), BEN) == teach.NOTHING_MISSED
    assert await _counts(db) == before


async def test_a_rating_under_a_reveal_changes_the_quiz_outcome_once(
    make_services: Callable[..., Services], db: Database
):
    services = make_services(db=db)
    question_id = await _question(db, CAPTIONS, reveal=True, picks={ANN: 1, BEN: 0})
    first = await _click(services, Rerate(question_id, int(Rating.Easy)), ANN)
    assert first.startswith("Rated **Easy**")
    async with db.session() as s:
        card = await cards.get_card(s, ANN, "ROCO_A")
        ratings = list(await s.scalars(select(ReviewRow.rating).where(ReviewRow.card_id == card.id)))
    assert ratings == [int(Rating.Easy)]  # the quiz's Again replaced, not a second rating
    before = await _counts(db)
    assert await _click(services, Rerate(question_id, int(Rating.Again)), ANN) == teach.ALREADY_RATED
    assert await _click(services, Rerate(question_id, int(Rating.Good)), 99) == study.NO_CARD_TO_RATE
    assert await _counts(db) == before
    async with db.session() as s:
        assert (await cards.get_card(s, ANN, "ROCO_A")).due == card.due


async def test_review_by_topic_or_modality_serves_the_case_as_asked_and_rates_it_from_the_letter(
    make_services: Callable[..., Services], db: Database
):
    services = make_services(db=db)
    await _question(db, CAPTIONS, reveal=True, picks={ANN: 1})
    async with db.session() as s:  # a day later: the card is due
        await s.execute(update(Card).where(Card.user_id == ANN).values(due=datetime(2000, 1, 1, tzinfo=UTC)))
    assert "Nothing is due for review · “zebra”" in await _click(services, Review(topic="zebra"), ANN)
    assert "Nothing is due for review · mri" in await _click(services, Review(modality="mri"), ANN)
    interaction = FakeInteraction(services, user_id=ANN)
    await services.handle(interaction, Review(topic="CAPTION a"))
    (front,) = interaction.followup.messages
    assert (
        front.ephemeral and "· “CAPTION a”" in front.content and front.files[0].filename == "case-review.png"
    )
    letters = front.custom_ids
    assert [label for label in front.button_labels] == list("ABCD")
    card_id, version = (int(x) for x in letters[0].split(":")[3:5])
    right = "ABCD"[shuffled_order(4, card_id, version).index(0)]
    for position, letter in enumerate("ABCD"):  # every caption, in the card's shuffled order
        assert (
            f"**{letter}** · caption {'ABCD'[shuffled_order(4, card_id, version)[position]]}" in front.content
        )
    answer = FakeInteraction(services, user_id=ANN)
    await services.handle(
        answer, ReviewAnswer(card_id, version, "ABCD".index(right), int(time.time()), Review())
    )
    assert f"✅ **{right}** is right." in answer.ephemeral_text and "Rated **Easy**" in answer.ephemeral_text
    async with db.session() as s:
        rows = list(await s.scalars(select(ReviewRow.source).where(ReviewRow.card_id == card_id)))
    assert rows == ["quiz", "review"]


async def test_a_review_hint_climbs_the_ladder_names_struck_letters_on_this_card_and_rates_hard(
    make_services: Callable[..., Services], db: Database
):
    services = make_services(db=db)
    ladder = [
        {"kind": "shows", "text": "The image shows the chest.", "strike": None},
        {"kind": "strike", "text": "Not C.", "strike": 2},
    ]
    await _question(db, CAPTIONS, reveal=True, picks={ANN: 1}, payload={"hints": [], "ladder": ladder})
    async with db.session() as s:
        await s.execute(update(Card).where(Card.user_id == ANN).values(due=datetime(2000, 1, 1, tzinfo=UTC)))
    interaction = FakeInteraction(services, user_id=ANN)
    await services.handle(interaction, Review())
    (front,) = interaction.followup.messages
    (hint_id,) = [c for c in front.custom_ids if c.startswith("mirage:rv:h:")]
    card_id, version, shown = (int(x) for x in hint_id.split(":")[3:6])
    order = shuffled_order(4, card_id, version)
    first = FakeInteraction(services, user_id=ANN)
    await services.handle(first, ReviewHint(card_id, version, shown, 1, Review()))
    assert "Hint 1/2: The image shows the chest." in first.ephemeral_text
    assert len(first.response.sent) == 1  # one private reply, the hint with the letters under it
    second = await _click(services, ReviewHint(card_id, version, shown, 2, Review()), ANN)
    assert f"Hint 2/2: **{'ABCD'[order.index(2)]}** is not it." in second
    assert (
        await _click(services, ReviewHint(card_id, version, shown, 3, Review()), ANN) == teach.NO_MORE_HINTS
    )
    assert (
        await _click(services, ReviewHint(card_id, version, shown, 1, Review()), BEN) == study.NOT_YOUR_CARD
    )
    right = order.index(0)
    verdict = await _click(
        services, ReviewAnswer(card_id, version, right, int(time.time()), Review(), hints=2), ANN
    )
    assert "is right." in verdict and "Rated **Hard**" in verdict
    assert (
        await _click(services, ReviewHint(card_id, version, shown, 1, Review()), ANN) == teach.ALREADY_RATED
    )
