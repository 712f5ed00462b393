"""End to end: a student alone with the bot in a direct message (the real bot process, the real tiny
engine, the Discord stand-in sending DM interactions: channel type 1, no guild, a user instead of a member).

Discord offers a DM only the global commands whose contexts include the bot's DM, so this bot syncs its
commands globally. There the solo quiz plays in the DM itself, review progress follows, and the
server-only commands say where to use them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from engine.contract import DISCLAIMER
from tests.e2e.conftest import assert_bot_healthy, start_bot_process
from tests.e2e.processes import BotProcess, EngineProcess
from tests.e2e.standin import StandIn
from tests.e2e.test_e2e_quiz import (
    answer_id,
    board,
    private_reply,
    right_letter,
    user_id,
    wait_question,
    wait_reveal,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(900)]

STUDENT = "solo-student"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dm_bot(module_standin: StandIn, engine: EngineProcess, e2e_log_dir: Path) -> AsyncIterator[BotProcess]:
    """The real bot with its commands synced globally (no dev guild)."""
    process = await start_bot_process(module_standin, engine, e2e_log_dir / "bot-dm.log", global_commands=True)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(autouse=True)
def bot_stays_healthy(module_standin: StandIn, dm_bot: BotProcess) -> Iterator[None]:
    """After each test: the bot is alive and asked the stand-in for nothing it lacks."""
    yield
    assert_bot_healthy(module_standin, dm_bot)


async def test_a_solo_quiz_plays_in_the_dm_and_becomes_a_review_card(module_standin: StandIn) -> None:
    s = module_standin
    dm = s.world.dm_channel(STUDENT)
    assert s.commands.global_commands and not s.commands.guild_commands

    start = await s.run_slash("mirage quiz", {"questions": 1}, user=STUDENT, channel_id=dm)
    assert start.acked and start.ack_latency is not None and start.ack_latency < 3.0
    question = await wait_question(s, dm, 1)
    assert s.threads == [], "a DM has no threads: the quiz plays in the DM itself"
    (image,) = question.files
    assert image.filename == "case-1.png"
    assert "guild_id" not in question.payload

    click = await s.press_button(question, answer_id(question, "B"), user=STUDENT)
    assert click.acked and "**B**" in private_reply(s, click).content

    # solo: the reveal comes as soon as the one player has answered, not after the timer
    reveal = await wait_reveal(s, dm, 1, timeout=30)
    assert "Source: `ROCO_" in reveal.content and DISCLAIMER in reveal.content
    me = user_id(s, STUDENT)
    right = right_letter(reveal) == "B"
    final = await s.wait_for(
        lambda: [m for m in s.messages_in(dm) if m.created_at > reveal.created_at and board(m)], 30, "the final scoreboard"
    )
    assert board(final[-1])[me][1:] == (int(right), 1)

    # the answered case is the student's review card
    progress = await s.run_slash("mirage progress", {}, user=STUDENT, channel_id=dm)
    shown = private_reply(s, progress).content
    assert "Your progress" in shown and f": {int(right)}/1 (" in shown, shown


async def test_server_only_commands_in_the_dm_say_where_to_use_them(module_standin: StandIn) -> None:
    s = module_standin
    dm = s.world.dm_channel(STUDENT)
    for path, options in [("mirage search", {"query": "pneumothorax"}), ("mirage scores", {})]:
        record = await s.run_slash(path, options, user=STUDENT, channel_id=dm)
        reply = private_reply(s, record).content
        assert f"`/{path}` works in a server" in reply and "`/mirage quiz`" in reply, reply
    assert s.threads == []


async def test_the_same_commands_still_answer_in_the_server(module_standin: StandIn) -> None:
    record = await module_standin.run_slash("mirage help", {}, user=STUDENT)
    assert "/mirage quiz" in private_reply(module_standin, record).content
