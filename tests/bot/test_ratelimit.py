"""The bot's REST budget (bot/ratelimit.py) and status lines under it (bot/flows/status.py): answers go
first, progress never takes more than its share, and a thousand status lines cannot flood Discord."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bot import ratelimit
from bot.flows.status import StatusLine
from bot.ratelimit import NORMAL, PROGRESS, URGENT, RestBudget


async def test_urgent_calls_overtake_waiting_progress_and_progress_keeps_to_its_share() -> None:
    budget = RestBudget(per_s=100, progress_share=0.1)
    order: list[tuple[int, float]] = []
    started = time.monotonic()

    async def call(level: int) -> None:
        await budget.acquire(level)
        order.append((level, time.monotonic() - started))

    tasks = [asyncio.create_task(call(PROGRESS)) for _ in range(30)]
    await asyncio.sleep(0.05)
    tasks += [asyncio.create_task(call(URGENT)) for _ in range(20)]
    await asyncio.sleep(1.0)
    urgent_done = [t for level, t in order if level == URGENT]
    assert len(urgent_done) == 20 and max(urgent_done) < 0.5  # 20 at 100/s, ahead of the progress queue
    progress_done = [t for level, t in order if level == PROGRESS]
    assert 5 <= len(progress_done) <= 13  # 10/s for ~1 s (+ one in the bucket)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_budget_never_hands_out_more_than_its_rate() -> None:
    budget = RestBudget(per_s=50, progress_share=0.2)
    started = time.monotonic()
    await asyncio.gather(*(budget.acquire(NORMAL) for _ in range(60)))
    took = time.monotonic() - started
    assert took >= (60 - budget._burst) / 50 * 0.95  # the burst, then 50/s


async def test_calls_take_the_priority_of_their_context_read_when_made() -> None:
    state = {"holding": False}
    with ratelimit.priority(lambda: URGENT if state["holding"] else NORMAL):
        assert ratelimit.current_priority() == NORMAL
        state["holding"] = True
        assert await asyncio.create_task(_priority_in_task()) == URGENT  # inherited by tasks started inside
    assert ratelimit.current_priority() == NORMAL


async def _priority_in_task() -> int:
    return ratelimit.current_priority()


async def test_within_a_level_the_older_jobs_calls_go_first() -> None:
    """A thousand jobs open their threads at once; the first job's next call (its status line) must not
    wait behind the 999 other threads, or the engine idles while its first jobs cannot start."""
    budget = RestBudget(per_s=50, progress_share=0.2)
    done: list[str] = []

    async def job(n: int, order: int) -> None:
        with ratelimit.priority(NORMAL, order=order):
            await budget.acquire()
            done.append(f"thread {n}")
            await budget.acquire()
            done.append(f"status {n}")

    orders = [ratelimit.new_order() for _ in range(100)]
    tasks = [asyncio.create_task(job(n, order)) for n, order in enumerate(orders)]
    await asyncio.sleep(0.6)  # ~30 tokens: the first jobs' two calls each, not 30 threads
    assert done[:20] == [f"{call} {n}" for n in range(10) for call in ("thread", "status")]
    assert "thread 40" not in done
    lone = ratelimit.new_order()
    assert lone > max(orders)  # a call outside a job queues after the jobs that started before it
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class FakeMessage:
    def __init__(self, budget: RestBudget) -> None:
        self.budget = budget
        self.content = "⏳ Place 900 in the queue."
        self.edits: list[tuple[int, str]] = []

    async def edit(self, **kwargs: Any) -> None:
        level = ratelimit.current_priority()
        await self.budget.acquire(level)  # as the installed HTTP client does
        self.edits.append((level, kwargs.get("content", "")))


async def test_a_thousand_status_lines_spend_only_the_progress_share_and_finish_at_once() -> None:
    budget = RestBudget(per_s=50, progress_share=0.2)
    messages = [FakeMessage(budget) for _ in range(1000)]
    lines = [StatusLine(m, min_interval_s=0.0) for m in messages]
    for round_ in range(5):  # everyone moves five times in a second
        for i, line in enumerate(lines):
            await line.set(f"⏳ About {900 - round_ * 10 - i % 7} requests ahead of yours.")
        await asyncio.sleep(0.2)
    progress = sum(len(m.edits) for m in messages)
    assert progress <= 0.2 * 50 * 1.2 + 2  # ~10 edits/s for ~1.1 s, not 5,000
    started = time.monotonic()
    await asyncio.gather(*(line.finish("✅ Done.") for line in lines[:20]))
    assert time.monotonic() - started < 1.0  # the last word is urgent: not behind the progress queue
    assert all(m.edits[-1] == (URGENT, "✅ Done.") for m in messages[:20])
    for line in lines[20:]:  # the rest are left waiting: stop their flush tasks
        if line._flush is not None:
            line._flush.cancel()


async def test_a_status_line_shows_the_latest_text_and_never_waits_in_set() -> None:
    budget = RestBudget(per_s=50, progress_share=0.2)
    message = FakeMessage(budget)
    line = StatusLine(message, min_interval_s=0.1)
    started = time.monotonic()
    for place in (5, 4, 3, 2, 1):
        await line.set(f"place {place}")
    assert time.monotonic() - started < 0.05
    await asyncio.sleep(0.3)
    assert message.edits[-1] == (PROGRESS, "place 1") and len(message.edits) == 1
    await line.finish("✅ Done.")
    await line.set("late")  # after the last word: ignored
    await asyncio.sleep(0.15)
    assert [c for _, c in message.edits] == ["place 1", "✅ Done."]


def test_bad_budget_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="progress_share"):
        RestBudget(per_s=45, progress_share=0)


async def test_install_puts_every_call_but_interaction_endpoints_under_the_budget() -> None:
    from discord.http import Route

    class FakeHTTP:
        def __init__(self) -> None:
            self.sent: list[str] = []

        async def request(self, route: Route, **kwargs: Any) -> str:
            self.sent.append(route.path)
            return "ok"

    http = FakeHTTP()
    budget = RestBudget(per_s=1000, progress_share=0.5)
    assert ratelimit.install(http, budget) and not ratelimit.install(http, budget)  # once
    assert ratelimit.budget_of(http) is budget
    await http.request(Route("POST", "/channels/{channel_id}/messages", channel_id=1))
    await http.request(Route("POST", "/interactions/{interaction_id}/{interaction_token}/callback",
                             interaction_id=1, interaction_token="t"))  # fmt: skip
    with ratelimit.priority(URGENT):
        await http.request(Route("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                                 webhook_id=1, webhook_token="t"))  # fmt: skip
        await http.request(Route("PATCH", "/channels/{channel_id}/messages/{message_id}", channel_id=1, message_id=2))
    assert len(http.sent) == 4
    assert budget.granted == {URGENT: 1, NORMAL: 1, PROGRESS: 0}  # the two interaction calls took no token
