"""A quiz question keeps its hint ladder and its item in its row, so after a bot restart the Hint button
and the reveal give what was asked even when the engine can no longer say it (its atlas changed, or it
refuses). A question without a stored payload (asked before revision 0003) still asks the engine.

The quiz flow runs for real on the database (SQLite and PostgreSQL) and the engine stand-in on a
loopback socket; Discord is faked at its edge. A bot process is a `Services` whose quizzes post through
a fake client; a restart is a new one on the same database, after the old one is closed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import update

from bot.requests import Answer, StartQuiz, TakeHint
from bot.services import Services
from bot.store import Database
from bot.store.models import Question
from engine.contract import DISCLAIMER

from ..engine_standin import EngineStandIn, Plan, quiz_question
from ..fakes import FakeChannel, FakeInteraction, FakeMessage, wait_until

STARTER, PLAYER, LATECOMER = 11, 12, 13
HINT_ID = re.compile(r"^mirage:quiz:h:(\d+):(\d+)$")
NOT_FOUND = Plan(status=404, code="not_found", message="no such atlas item", retryable=False)


class QuizClient:
    """The one part of `discord.Client` the quiz flow posts through: a channel or thread by id."""

    def __init__(self, channel: FakeChannel) -> None:
        self.channel = channel

    def get_partial_messageable(self, channel_id: int, *, guild_id: int | None = None) -> FakeChannel:
        for place in (self.channel, *self.channel.threads):
            if place.id == channel_id:
                return place
        raise AssertionError(f"the quiz posted to unknown channel {channel_id}")


@pytest.fixture
async def flows(
    make_services: Callable[..., Services], db: Database
) -> AsyncIterator[Callable[[FakeChannel], Services]]:
    """Start a bot's services, quizzes included, on the parametrised database (each call: one bot process)."""
    started: list[Services] = []

    def start(channel: FakeChannel) -> Services:
        flow = make_services(db=db, poster=QuizClient(channel))
        started.append(flow)
        return flow

    yield start
    for flow in started:
        await flow.close()


def question_message(place: FakeChannel) -> tuple[FakeMessage, int, int]:
    """The posted question (the one with a Hint button), its question id and seed."""
    for message in place.messages:
        for custom_id in message.custom_ids:
            if match := HINT_ID.match(custom_id):
                return message, int(match[1]), int(match[2])
    raise AssertionError(f"no question in {[m.content for m in place.messages]}")


async def start_quiz(flow: Services, channel: FakeChannel, *, guild_id: int | None) -> FakeChannel:
    """/mirage quiz with one question; returns where it is played (a new thread, or the DM itself)."""
    interaction = FakeInteraction(None, channel=channel, guild_id=guild_id, user_id=STARTER)
    await flow.handle(interaction, StartQuiz(questions=1, kind="caption", modality=None))  # type: ignore[arg-type]
    return channel.threads[0] if guild_id is not None else channel


async def restart(flow: Services, flows: Callable[[FakeChannel], Services], channel: FakeChannel) -> Services:
    """The bot process ends (timers stop, nothing in memory survives) and a new one starts on the same data."""
    await flow.close()
    return flows(channel)


async def press_hint(flow: Services, place: FakeChannel, user_id: int, question_id: int, seed: int) -> str:
    """A player's Hint click; what they were told privately."""
    interaction = FakeInteraction(None, channel=place, user_id=user_id)
    await flow.handle(interaction, TakeHint(question_id, seed))  # type: ignore[arg-type]
    return interaction.ephemeral_text


async def test_a_hint_after_a_restart_is_the_asked_questions_even_when_the_atlas_changed(
    engine: EngineStandIn, flows: Any
) -> None:
    channel = FakeChannel()
    flow = flows(channel)
    thread = await start_quiz(flow, channel, guild_id=900)
    question, question_id, seed = question_message(thread)
    asked = quiz_question(seed)
    assert question.files[0].filename == "case-1.png" and "Which caption" in question.content

    # the bot restarts; meanwhile the atlas changed, so the seed now names another image
    flow = await restart(flow, flows, channel)
    changed = quiz_question(seed + 1)
    assert changed["item"]["id"] != asked["item"]["id"]
    engine.plan("/v1/quiz", Plan(body=changed), Plan(body=changed))
    quiz_calls = len(engine.calls("/v1/quiz"))

    said = await press_hint(flow, thread, PLAYER, question_id, seed)
    assert f"Hint 1/3: {asked['hints'][0]}" in said, said
    said = await press_hint(flow, thread, PLAYER, question_id, seed)
    assert f"Hint 2/3: {asked['hints'][1]}" in said, said
    assert len(engine.calls("/v1/quiz")) == quiz_calls, "the hints came from the question's row"

    # a question asked before rows kept their payload: the engine is asked, and its changed atlas shows
    assert flow.db is not None
    async with flow.db.session() as session:
        await session.execute(update(Question).where(Question.id == question_id).values(payload=None))
    flow = await restart(flow, flows, channel)
    said = await press_hint(flow, thread, LATECOMER, question_id, seed)
    assert "There are no hints for this question." in said, said
    assert len(engine.calls("/v1/quiz")) == quiz_calls + 1


async def test_a_solo_quiz_after_a_restart_reveals_the_asked_caption_while_the_engine_refuses(
    engine: EngineStandIn, flows: Any
) -> None:
    dm = FakeChannel()
    flow = flows(dm)
    await start_quiz(flow, dm, guild_id=None)
    _, question_id, seed = question_message(dm)
    asked = quiz_question(seed)

    # after the restart the engine knows neither the seed's question nor the atlas item
    flow = await restart(flow, flows, dm)
    engine.plan("/v1/quiz", NOT_FOUND)
    engine.plan("/v1/atlas", NOT_FOUND)
    said = await press_hint(flow, dm, STARTER, question_id, seed)
    assert f"Hint 1/3: {asked['hints'][0]}" in said, said

    # the student answers: a solo question is revealed at once, with the asked caption and its source
    click = FakeInteraction(None, channel=dm, guild_id=None, user_id=STARTER)
    await flow.handle(click, Answer(question_id, asked["answer"]))  # type: ignore[arg-type]
    assert "**" + "ABCD"[asked["answer"]] + "**" in click.ephemeral_text
    await wait_until(lambda: any("Quiz over" in m.content for m in dm.messages), 10)
    reveal = next(m for m in dm.messages if "✅ **Question 1/1" in m.content)
    item = asked["item"]
    assert item["caption"] in reveal.content
    assert f"`{item['id']}`" in reveal.content and item["source"]["pmc_id"] in reveal.content
    assert item["source"]["licence"] in reveal.content and DISCLAIMER in reveal.content
    assert "could not give its caption" not in reveal.content
