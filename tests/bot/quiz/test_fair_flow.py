"""The quiz flow with reports and pools, on the database (SQLite and PostgreSQL) and the engine stand-in: an
item retired by reports in a server is never asked there (the flow asks the engine again with a new
seed) but still is in another server; a topic quiz sends its topic with every question; when every
try names a retired item the quiz is refused in words, before any thread opens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.flows.quiz import pool
from bot.requests import StartQuiz
from bot.rules.quiz_fair import ReportReason
from bot.store import Database, quizzes, reports

from ..engine_standin import EngineStandIn
from ..fakes import FakeChannel, FakeInteraction
from .test_flow_restart import STARTER, flows, question_message  # noqa: F401  (flows: the fixture)

GUILD, OTHER_GUILD = 900, 901


@pytest.fixture
def seeds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The seeds the flow will use, in order (the stand-in's seed k asks ROCO_{k+1})."""
    planned: list[int] = []
    monkeypatch.setattr(pool, "new_seed", lambda: planned.pop(0))
    yield planned


async def _retire(db: Database, atlas_id: str, guild_id: int) -> None:
    async with db.session() as s:
        await reports.add_report(
            s, guild_id=guild_id, atlas_id=atlas_id, question_id=1, user_id=77, reason=ReportReason.WRONG_ANSWER,
            is_moderator=True,
        )  # fmt: skip


async def _asked(db: Database, place: FakeChannel) -> str:
    _, question_id, _ = question_message(place)
    async with db.session() as s:
        question = await quizzes.get_question(s, question_id)
    assert question is not None
    return question.atlas_id


async def _start(flow: Any, channel: FakeChannel, guild_id: int, **pool_options: str) -> FakeInteraction:
    interaction = FakeInteraction(None, channel=channel, guild_id=guild_id, user_id=STARTER)
    await flow.handle(interaction, StartQuiz(questions=1, **pool_options))  # type: ignore[arg-type]
    return interaction


async def test_a_retired_item_is_not_asked_in_its_server_but_is_elsewhere(
    flows: Any, db: Database, engine: EngineStandIn, seeds: list[int]  # noqa: F811
) -> None:
    await _retire(db, "ROCO_00001", GUILD)
    seeds += [0, 0, 1]  # ROCO_00001 twice (retired here), then ROCO_00002
    here = FakeChannel()
    await _start(flows(here), here, GUILD)
    assert await _asked(db, here.threads[0]) == "ROCO_00002"
    assert len(engine.calls("/v1/quiz")) == 3
    seeds += [0]
    there = FakeChannel()
    await _start(flows(there), there, OTHER_GUILD)
    assert await _asked(db, there.threads[0]) == "ROCO_00001", "another server's reports do not count"


async def test_a_topic_quiz_sends_its_topic_and_keeps_it(
    flows: Any, db: Database, engine: EngineStandIn, seeds: list[int]  # noqa: F811
) -> None:
    seeds += [4]
    channel = FakeChannel()
    interaction = await _start(flows(channel), channel, GUILD, topic="  pneumothorax ")
    body = engine.calls("/v1/quiz")[-1]["body"]
    assert (body["topic"], body.get("concept"), body["kind"]) == ("pneumothorax", None, "caption")
    assert "topic “pneumothorax”" in interaction.original.content
    async with db.session() as s:
        quiz = await quizzes.running_quiz(s, channel.threads[0].id)
    assert quiz is not None and (quiz.topic, quiz.concept) == ("pneumothorax", None)


async def test_when_every_try_names_a_retired_item_the_quiz_is_refused_in_words(
    flows: Any, db: Database, engine: EngineStandIn, seeds: list[int]  # noqa: F811
) -> None:
    await _retire(db, "ROCO_00003", GUILD)
    seeds += [2] * (1 + pool.FRESH_ITEM_TRIES)
    channel = FakeChannel()
    interaction = await _start(flows(channel), channel, GUILD)
    text = interaction.original.content
    assert text.startswith("❌ There are not enough atlas images for this quiz") and "reported as unfair" in text
    assert channel.threads == []
