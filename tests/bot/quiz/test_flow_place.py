"""Where a quiz is played: started inside any kind of thread, it plays there (no thread in a thread)."""

from __future__ import annotations

from typing import Any

import discord

from bot.requests import StartQuiz

from ..fakes import FakeChannel, FakeInteraction, FakeThread
from .test_flow_restart import STARTER, flows, question_message  # noqa: F401  (flows: the fixture)


async def test_a_quiz_started_in_an_announcement_thread_plays_in_that_thread(flows: Any) -> None:  # noqa: F811
    channel = FakeChannel()
    thread = FakeThread(name="revision", parent=channel)
    thread.type = discord.ChannelType.news_thread  # a thread under an announcement channel
    channel.threads.append(thread)
    flow = flows(channel)
    interaction = FakeInteraction(None, channel=thread, guild_id=900, user_id=STARTER)
    await flow.handle(interaction, StartQuiz(questions=1, kind="caption", modality=None))  # type: ignore[arg-type]
    question, _, _ = question_message(thread)
    assert "Which caption" in question.content
    assert thread.threads == [] and channel.threads == [thread]
