"""The stand-in speaks Discord well enough for the real, unmodified discord.py client.

A minimal in-process discord.py bot (tests/e2e/mini_bot.py) logs in, syncs commands, answers slash
commands and buttons, and survives a dropped gateway and a 429, all over loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator

import discord
import pytest
import pytest_asyncio

from tests.e2e.mini_bot import MiniBot, png_bytes
from tests.e2e.standin import StandIn
from tests.e2e.standin.client import point_discord_py_at

pytestmark = pytest.mark.timeout(60)

# zlib-stream, or zstd-stream when zstandard is installed: whatever this discord.py asks the gateway for
ASKED_COMPRESSION = discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE


async def start_bot(standin: StandIn, **kwargs: object) -> tuple[MiniBot, asyncio.Task[None]]:
    bot = MiniBot(standin.guild_id, **kwargs)  # type: ignore[arg-type]
    task = asyncio.create_task(bot.start(standin.token))
    await standin.wait_until_ready(timeout=20)
    await asyncio.wait_for(bot.wait_until_ready(), 10)
    return bot, task


async def stop_bot(bot: MiniBot, task: asyncio.Task[None]) -> None:
    await bot.close()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(task, 5)


@pytest_asyncio.fixture
async def bot(standin: StandIn) -> AsyncIterator[MiniBot]:
    with point_discord_py_at(standin):
        client, task = await start_bot(standin)
        try:
            yield client
        finally:
            await stop_bot(client, task)


async def test_client_identifies_with_its_transport_compression_and_syncs_to_the_dev_guild(
    standin: StandIn, bot: MiniBot
) -> None:
    identify = next(f for f in standin.frames if f.direction == "recv" and f.op == 2)
    assert identify.d["token"] == standin.token
    assert identify.d["intents"] == discord.Intents.default().value
    assert standin.gateway.compressions == [ASKED_COMPRESSION]
    assert bot.user is not None and bot.user.id == standin.bot_user_id
    assert bot.application_id == standin.app_id
    guild = bot.get_guild(standin.guild_id)
    assert guild is not None and guild.get_channel(standin.channel_id) is not None
    assert guild.me.guild_permissions.create_public_threads
    synced = standin.commands.scope(standin.guild_id)
    assert [c["name"] for c in synced] == ["mirage"]
    assert sorted(o["name"] for o in synced[0]["options"]) == ["image", "search"]
    assert standin.calls_matching("PUT /applications/*/guilds/*/commands")[0].status == 200
    assert not standin.unsupported


async def test_slash_command_is_deferred_followed_up_and_answered_in_a_thread(
    standin: StandIn, bot: MiniBot
) -> None:
    record = await standin.run_slash("mirage search", {"query": "pneumothorax", "k": 2}, user="alice")
    assert record.acked and record.ack_type == 5 and record.ack_latency < 3
    thread = await standin.wait_for_thread(record, timeout=10)
    messages = await standin.wait_for_messages(int(thread["id"]), lambda ms: len(ms) >= 1, timeout=10)

    original = standin.interaction_messages(record)[0]
    assert original.content == "Results for pneumothorax (k=2)" and not original.loading
    starter = standin.world.messages[int(thread["id"])]
    assert f"<@{record.user_id}>" in starter.content and starter.files[0].filename == "answer.png"
    assert thread["name"] == "pneumothorax"
    posted = messages[0]
    assert "Sources: ROCO_00001" in posted.text
    assert [f.open_image().size for f in posted.files] == [(32, 32)]
    assert posted.payload["attachments"][0]["width"] == 32
    assert posted.custom_ids == ["mini:more"]
    assert not bot.errors


async def test_attachment_option_is_served_from_the_cdn(standin: StandIn, bot: MiniBot) -> None:
    picture = png_bytes(24)
    record = await standin.run_slash("mirage image", {"picture": ("scan.png", picture)})
    assert record.ack_type == 4
    reply = standin.interaction_messages(record)[0]
    assert (
        reply.content
        == f"got scan.png {len(picture)} bytes sha {hashlib.sha256(picture).hexdigest()[:16]} 24x24"
    )


async def test_button_press_reaches_the_persistent_view(standin: StandIn, bot: MiniBot) -> None:
    record = await standin.run_slash("mirage search", {"query": "effusion"})
    thread = await standin.wait_for_thread(record, timeout=10)
    (message,) = await standin.wait_for_messages(int(thread["id"]), lambda ms: len(ms) >= 1, timeout=10)
    press = await standin.press_button(message, "mini:more", user="bob")
    assert press.ack_type == 4 and press.ack_latency < 3
    assert standin.interaction_messages(press)[0].content == "more for bob"
    with pytest.raises(ValueError, match="has no button 'nope'"):
        await standin.press_button(message, "nope")


async def test_options_are_checked_against_the_synced_command(standin: StandIn, bot: MiniBot) -> None:
    with pytest.raises(ValueError, match=r"within \[1, 10\]"):
        await standin.run_slash("mirage search", {"query": "x", "k": 11})
    with pytest.raises(ValueError, match="requires option"):
        await standin.run_slash("mirage search", {})
    with pytest.raises(ValueError, match="no synced command 'mirage nothing'"):
        await standin.run_slash("mirage nothing")


async def test_gateway_drop_resumes_and_replays_what_was_missed(standin: StandIn, bot: MiniBot) -> None:
    await standin.drop_gateway()
    # sent while the bot is away: Discord keeps it for the resumed session
    record = await standin.run_slash("mirage search", {"query": "during the drop"}, wait_ack=False)
    await standin.wait_for(lambda: standin.gateway.current.resumes == 1, timeout=15, what="RESUME")
    assert standin.gateway.identifies == 1
    resume = [f for f in standin.frames if f.direction == "recv" and f.op == 6]
    assert resume and resume[0].d["session_id"] == standin.gateway.current.session_id
    await standin.wait_for(lambda: record.acked, timeout=10, what="ack after resume")
    after = await standin.run_slash("mirage search", {"query": "after the drop"})
    assert after.acked and after.ack_latency < 3
    assert standin.gateway.compressions == [ASKED_COMPRESSION, ASKED_COMPRESSION]


async def test_rate_limited_send_waits_retry_after_then_succeeds(standin: StandIn, bot: MiniBot) -> None:
    standin.set_rate_limit("POST /channels/*/messages", retry_after=0.6)
    record = await standin.run_slash("mirage search", {"query": "rate limited"})
    await standin.wait_for_thread(record, timeout=15)
    sends = standin.calls_matching(f"POST /channels/{standin.channel_id}/messages")
    assert [c.status for c in sends] == [429, 200]
    assert sends[1].at - sends[0].at >= 0.6
    assert not bot.errors


async def test_upload_over_the_limit_is_413_and_a_smaller_retry_lands(standin: StandIn) -> None:
    standin.upload_limit = 20_000
    with point_discord_py_at(standin):
        bot, task = await start_bot(standin, file_size=256)
        try:
            record = await standin.run_slash("mirage search", {"query": "big"})
            thread = await standin.wait_for_thread(record, timeout=15)
            await standin.wait_for_messages(int(thread["id"]), lambda ms: len(ms) == 1, timeout=10)
        finally:
            await stop_bot(bot, task)
    statuses = [c.status for c in standin.calls_matching(f"POST /channels/{standin.channel_id}/messages")]
    assert statuses[0] == 413 and statuses[-1] == 200
    assert bot.upload_attempts[0] > 20_000 >= bot.upload_attempts[-1]
    assert not bot.errors


async def test_ack_after_the_deadline_is_unknown_interaction(standin: StandIn) -> None:
    standin.interactions.ack_deadline = 0.3
    with point_discord_py_at(standin):
        bot, task = await start_bot(standin, ack_delay=0.6)
        try:
            record = await standin.run_slash("mirage search", {"query": "slow"})
            await standin.wait_for(lambda: bot.errors, timeout=10, what="the bot's error")
        finally:
            await stop_bot(bot, task)
    assert not record.acked
    assert isinstance(bot.errors[0], discord.NotFound) and bot.errors[0].code == 10062


async def test_message_over_2000_characters_is_invalid_form_body(standin: StandIn, bot: MiniBot) -> None:
    channel = bot.get_channel(standin.channel_id)
    with pytest.raises(discord.HTTPException) as info:
        await channel.send("x" * 2001)
    assert info.value.status == 400 and info.value.code == 50035
