"""The pacing rule that status lines and streamed answers share (bot/flows/throttle.py): latest text wins,
at most one edit per interval, written at progress priority, and the last word goes at once, after a
post in flight and never overwritten by a progress edit. Discord is faked at its edge: a message that
records each text it shows, when, and at which REST priority."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot import ratelimit
from bot.flows.live import LiveText
from bot.flows.status import StatusLine
from bot.flows.throttle import ThrottledMessage
from bot.ratelimit import PROGRESS, URGENT

EPSILON = 0.005  # timers may wake a hair early on some clocks


class RecordingMessage:
    """A Discord message: each edit shows its content after `delay_s` (the round trip), recorded with its time."""

    def __init__(self, content: str = "", *, delay_s: float = 0.0) -> None:
        self.content = content
        self.delay_s = delay_s
        self.shown: list[tuple[float, int, str]] = []  # (when it landed, REST priority, text)

    async def edit(self, **kwargs: Any) -> None:
        level = ratelimit.current_priority()
        await asyncio.sleep(self.delay_s)
        if "content" in kwargs:
            self.content = kwargs["content"]
            self.shown.append((time.monotonic(), level, self.content))

    @property
    def texts(self) -> list[str]:
        return [text for _, _, text in self.shown]


async def test_edits_come_at_most_once_per_interval_and_the_latest_text_wins() -> None:
    message = RecordingMessage("⏳ Place 30 in the queue.")
    line = ThrottledMessage(message, min_interval_s=0.2)
    created = time.monotonic()
    for place in range(29, 9, -1):  # twenty moves in ~0.6 s
        started = time.monotonic()
        await line.set(f"⏳ Place {place} in the queue.")
        assert time.monotonic() - started < 0.05  # the caller never waits for Discord
        await asyncio.sleep(0.03)
    await asyncio.sleep(0.5)

    times = [created] + [at for at, _, _ in message.shown]
    assert all(b - a >= 0.2 - EPSILON for a, b in zip(times, times[1:], strict=False))  # the post counts too
    assert 2 <= len(message.shown) <= 5  # ~0.6 s of moves at one edit per 0.2 s, not twenty
    places = [int(text.split()[2]) for text in message.texts]
    assert places == sorted(places, reverse=True)  # never an older place after a newer one
    assert message.content == "⏳ Place 10 in the queue." and line.shown == message.content  # the latest won
    assert {level for _, level, _ in message.shown} == {PROGRESS} and line.edits == len(message.shown)


async def test_a_text_the_message_already_shows_is_not_written_again() -> None:
    message = RecordingMessage("🔎 Searching…")
    line = ThrottledMessage(message, min_interval_s=0.05)
    await line.set("🔎 Searching…")
    await asyncio.sleep(0.1)
    assert message.shown == []
    await line.set("🖼️ Fetching images…")
    await asyncio.sleep(0.1)
    await line.set("🖼️ Fetching images…")
    await asyncio.sleep(0.1)
    assert message.texts == ["🖼️ Fetching images…"]


async def test_finish_drops_the_pending_text_and_writes_the_last_word_at_once_as_urgent() -> None:
    message = RecordingMessage("⏳ Place 3 in the queue.")
    status = StatusLine(message, min_interval_s=5.0)
    await status.set("⏳ Place 2 in the queue.")  # due in 5 s
    started = time.monotonic()
    await status.finish("✅ Done.", view=None)
    assert time.monotonic() - started < 1.0
    await status.set("⏳ Place 1 in the queue.")  # after the last word: ignored
    await asyncio.sleep(0.2)
    assert [(level, text) for _, level, text in message.shown] == [(URGENT, "✅ Done.")]
    assert status.shown == "✅ Done." and status.edits == 0  # the last word is not a progress edit


async def test_a_progress_edit_under_way_never_lands_after_the_last_word() -> None:
    message = RecordingMessage("⏳ Place 2 in the queue.", delay_s=0.3)  # a slow round trip
    status = StatusLine(message, min_interval_s=0.0)
    await status.set("⚖️ Comparing…")
    await asyncio.sleep(0.1)  # that edit is under way now
    await status.finish("❌ The engine is not answering.")
    await asyncio.sleep(0.5)
    assert message.content == "❌ The engine is not answering."
    assert message.texts[-1] == "❌ The engine is not answering."


class SlowReply:
    """A reply whose messages take `delay_s` to post (a busy channel)."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.posted: list[RecordingMessage] = []

    async def send(self, content: str, **kwargs: Any) -> RecordingMessage:
        await asyncio.sleep(self.delay_s)
        message = RecordingMessage(content)
        self.posted.append(message)
        return message


async def test_the_first_words_in_flight_land_before_the_final_answer_replaces_them() -> None:
    reply = SlowReply(delay_s=0.2)
    live = LiveText(reply, min_interval_s=0.1)  # type: ignore[arg-type]
    writing = asyncio.create_task(live.update("Air in the pleural"))
    await asyncio.sleep(0.05)  # the first words are being posted
    await live.finish("Air collects in the pleural space [1].")  # from another task, meanwhile
    await writing
    assert len(reply.posted) == 1  # the answer went into the words' message, not a second one
    message = reply.posted[0]
    assert message.content == "Air collects in the pleural space [1]." and message.texts == [message.content]


async def test_streamed_words_edit_one_message_no_faster_than_the_interval() -> None:
    reply = SlowReply(delay_s=0.0)
    live = LiveText(reply, min_interval_s=0.15)  # type: ignore[arg-type]
    written = ""
    for n in range(20):
        written += f"w{n} "
        await live.update(written)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    message = reply.posted[0]
    assert len(reply.posted) == 1 and message.texts  # posted once, then edited
    times = [at for at, _, _ in message.shown]
    assert all(b - a >= 0.15 - EPSILON for a, b in zip(times, times[1:], strict=False))
    assert "w19" in message.content and live.edits == len(message.shown) < 20
