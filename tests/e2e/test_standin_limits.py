"""Discord's rate limits in the stand-in (tests/e2e/standin/limits.py), and a stand-in that stays
responsive while a load run waits on it.

A client that ignores the limits gets 429s (global past 50 requests/s, per channel past 5 message
creates or edits in 5 s), with the headers and body Discord sends; interaction callbacks are exempt;
the real discord.py client reads the bucket headers and paces itself without being refused.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import discord
import pytest

from tests.e2e.standin import StandIn
from tests.e2e.standin.client import point_discord_py_at
from tests.e2e.standin.limits import GLOBAL_LIMIT, ROUTE_LIMITS
from tests.e2e.test_standin_discord_py import start_bot, stop_bot

pytestmark = pytest.mark.timeout(60)


def _headers(standin: StandIn) -> dict[str, str]:
    return {"Authorization": f"Bot {standin.token}", "Content-Type": "application/json"}


async def test_a_client_ignoring_the_global_limit_gets_global_429s(standin: StandIn) -> None:
    url = f"{standin.api_base}/channels/{standin.channel_id}"
    async with aiohttp.ClientSession(headers=_headers(standin)) as http:

        async def get() -> tuple[int, dict[str, str], object]:
            async with http.get(url) as response:
                return response.status, dict(response.headers), await response.json()

        answers = await asyncio.gather(*(get() for _ in range(GLOBAL_LIMIT + 30)))
    refused = [a for a in answers if a[0] == 429]
    assert sum(a[0] == 200 for a in answers) <= GLOBAL_LIMIT and len(refused) >= 30
    status, headers, body = refused[0]
    assert body["global"] is True and 0 < body["retry_after"] <= 1.0  # type: ignore[index]
    assert headers["X-RateLimit-Global"] == "true" and headers["X-RateLimit-Scope"] == "global"
    assert "Via" in headers  # discord.py treats a 429 without Via as a Cloudflare ban
    assert standin.limits is not None and standin.limits.refused_global == len(refused)


async def test_a_sixth_message_in_a_channel_within_five_seconds_is_refused_with_bucket_headers(
    standin: StandIn,
) -> None:
    create = next(r for r in ROUTE_LIMITS if r.name == "message-create")
    url = f"{standin.api_base}/channels/{standin.channel_id}/messages"
    async with aiohttp.ClientSession(headers=_headers(standin)) as http:
        answers = []
        for i in range(create.limit + 1):
            async with http.post(url, json={"content": f"spam {i}"}) as response:
                answers.append((response.status, dict(response.headers), await response.json()))
    assert [a[0] for a in answers] == [200] * create.limit + [429]
    assert [a[1]["X-RateLimit-Remaining"] for a in answers[: create.limit]] == ["4", "3", "2", "1", "0"]
    status, headers, body = answers[-1]
    assert body["global"] is False and headers["X-RateLimit-Scope"] == "user"
    assert 0 < float(headers["X-RateLimit-Reset-After"]) <= create.window_s
    assert headers["X-RateLimit-Bucket"] == answers[0][1]["X-RateLimit-Bucket"]
    assert len(standin.messages_in(standin.channel_id)) == create.limit  # the refused one was not posted


async def test_interaction_callbacks_are_not_bound_by_the_global_limit(standin: StandIn) -> None:
    assert standin.limits is not None
    for _ in range(GLOBAL_LIMIT + 10):
        assert standin.limits.check("POST", "/interactions/1/tok/callback").allowed
    assert standin.limits.check("GET", f"/channels/{standin.channel_id}").allowed  # the global window is untouched


async def test_discord_py_reads_the_bucket_headers_and_waits_instead_of_being_refused(standin: StandIn) -> None:
    with point_discord_py_at(standin):
        bot, task = await start_bot(standin)
        try:
            channel = bot.get_channel(standin.channel_id)
            assert isinstance(channel, discord.TextChannel)
            started = time.monotonic()
            for i in range(7):  # more than one bucket's worth: the sixth waits for the reset
                await channel.send(f"line {i}")
            took = time.monotonic() - started
        finally:
            await stop_bot(bot, task)
    sent = [m.content for m in standin.messages_in(standin.channel_id)]
    assert sent == [f"line {i}" for i in range(7)]
    assert standin.calls_matching("POST /channels/*/messages") and all(
        c.status == 200 for c in standin.calls_matching("POST /channels/*/messages")
    )  # paced by the headers: not one 429
    assert took >= 3.0


async def test_a_costly_wait_does_not_starve_the_stand_in_it_waits_on(standin: StandIn) -> None:
    """The 1,000-user stall: the bench's check of every interaction ran on every REST call, in the
    stand-in's own loop, so the bot's requests queued behind it. A waiting check now takes at most a
    tenth of the loop, however often the bot calls."""
    standin.limits = None  # this test is about the check, not Discord's limits
    checks = 0

    def costly() -> bool:
        nonlocal checks
        checks += 1
        end = time.perf_counter() + 0.02  # a check over 1,000 interactions
        while time.perf_counter() < end:
            pass
        return False

    waiter = asyncio.create_task(standin.wait_for(costly, 3.0, "never"))
    url = f"{standin.api_base}/channels/{standin.channel_id}"
    started = time.monotonic()
    async with aiohttp.ClientSession(headers=_headers(standin)) as http:
        for _ in range(150):  # the bot, calling as fast as it can
            async with http.get(url) as response:
                assert response.status == 200
    calls_took = time.monotonic() - started
    with pytest.raises(TimeoutError):
        await waiter
    assert checks <= 40, f"the check ran {checks} times (once per REST call)"
    assert calls_took < 2.5
