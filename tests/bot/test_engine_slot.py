"""A job frees its engine slot after its last engine call (JobQueue.release_slot, bot/flows/slot.py): the
next waiting job starts while the first is still posting its answer to Discord, and the first stays open
until then (its cancel button and a shutdown still reach it)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.drain import Drain
from bot.flows.slot import engine_done, freeing
from bot.metrics import METRICS
from bot.queue import JobCancelled, JobQueue
from bot.render import text

from .conftest import invoke
from .engine_standin import Plan
from .fakes import FakeInteraction, FakeThread, wait_until


def one_slot() -> JobQueue:
    return JobQueue(max_concurrent=1, per_user_cap=1, cooldown_s=0)


async def test_a_job_that_freed_its_slot_lets_the_next_start_while_it_still_posts():
    queue = one_slot()
    first, second = queue.submit(1, "search"), queue.submit(2, "search")
    events: list[str] = []

    async def first_work() -> None:
        events.append("first asked the engine")
        queue.release_slot(first)
        events.append("first posting")
        await asyncio.sleep(0.2)  # uploading to Discord, under its rate limits
        events.append("first posted")

    async def second_work() -> None:
        events.append("second asked the engine")
        assert first in queue.open_jobs() and first.state == "running" and queue.running == 1

    await asyncio.gather(queue.run(first, first_work), queue.run(second, second_work))
    assert events == ["first asked the engine", "first posting", "second asked the engine", "first posted"]
    assert queue.running == 0 and queue.open_jobs() == [] and queue.peak_running == 1


async def test_closing_a_freed_job_frees_nothing_twice_and_starts_no_extra_job():
    queue = one_slot()
    first, second, third = (queue.submit(user, "search") for user in (1, 2, 3))
    assert queue.release_slot(first) and not queue.release_slot(first)  # a second release frees nothing
    assert (first.state, second.state, third.state, queue.running) == ("running", "running", "waiting", 1)
    queue.close(first)
    assert (third.state, queue.running) == ("waiting", 1)  # the first's slot went to the second already
    assert not queue.release_slot(first) and not queue.release_slot(third)  # closed; still waiting
    queue.close(second)
    assert (third.state, queue.running) == ("running", 1)
    queue.close(third)
    assert queue.running == 0 and queue.open_jobs() == []


async def test_a_freed_job_is_still_open_so_shutdown_interrupts_it_and_its_owner_can_cancel():
    queue = JobQueue(max_concurrent=1, per_user_cap=1, cooldown_s=0)
    jobs = [queue.submit(user, "search") for user in (1, 2, 3)]
    posting = [asyncio.Event() for _ in jobs]

    def work(n: int) -> Any:
        async def posts_for_a_long_time() -> None:
            queue.release_slot(jobs[n])
            posting[n].set()
            await asyncio.sleep(60)

        return posts_for_a_long_time

    runs = [asyncio.create_task(queue.run(job, work(n))) for n, job in enumerate(jobs)]
    await asyncio.wait_for(asyncio.gather(*(p.wait() for p in posting)), 2)  # each started once the last freed
    assert queue.open_jobs() == jobs and queue.running == 0

    assert queue.cancel(jobs[0].id, 1)  # its cancel button still works while it posts
    stopped = queue.interrupt_all()
    assert stopped == jobs[1:] and all(job.interrupted for job in stopped)
    results = await asyncio.gather(*runs, return_exceptions=True)
    assert all(isinstance(result, JobCancelled) for result in results)
    assert queue.running == 0 and queue.open_jobs() == []


async def test_the_open_jobs_gauge_counts_a_freed_job_as_posting_not_running_nor_waiting():
    queue = one_slot()
    first, second, _ = (queue.submit(user, "search") for user in (1, 2, 3))
    queue.release_slot(first)
    METRICS.watch_queue(queue)
    families = {f.name: f.samples for f in text_string_to_metric_families(generate_latest(METRICS.registry).decode())}
    by_state = {s.labels["state"]: s.value for s in families["mirage_bot_open_jobs"]}
    assert by_state == {"running": 1, "posting": 1, "waiting": 1}


async def test_outside_a_job_engine_done_frees_no_ones_slot():
    queue = one_slot()
    first, second = queue.submit(1, "search"), queue.submit(2, "search")
    inside, finish = asyncio.Event(), asyncio.Event()

    async def first_work() -> None:  # as _run_queued runs a job's work
        with freeing(lambda: queue.release_slot(first)):
            inside.set()
            await finish.wait()

    task = asyncio.create_task(first_work())
    await inside.wait()
    engine_done()  # meanwhile a quiz or a review fetches images, outside any job
    assert (first.state, second.state, queue.running) == ("running", "waiting", 1)
    finish.set()
    await task


# --- through the search flow, with the engine stand-in and fake Discord --------------------------------------
def hold_uploads(thread: FakeThread, until: asyncio.Event) -> None:
    """Discord is slow to take this thread's images: a message with files waits for `until`."""
    send = thread.send

    async def slow_send(content: str | None = None, **kwargs: Any) -> Any:
        if kwargs.get("files"):
            await until.wait()
        return await send(content, **kwargs)

    thread.send = slow_send  # type: ignore[method-assign]


FLOWS = [  # the flows that fetch images from the engine right before posting: (command, route, options)
    ("search", "/v1/search", {"query": "q", "k": 1}),
    ("compare", "/v1/compare", {"base": "q", "subtract": "x-ray", "add": "ct"}),
    ("generate", "/v1/generate", {"prompt": "q", "steps": 1}),
]


@pytest.mark.parametrize(("command", "route", "options"), FLOWS, ids=[f[0] for f in FLOWS])
async def test_with_one_engine_slot_the_second_request_reaches_the_engine_while_the_first_answer_uploads(
    engine, make_services, command: str, route: str, options: dict[str, Any]
):
    services = make_services(engine_max_concurrent=1)
    engine.plan(route, Plan(delay=0.3))
    first, second = FakeInteraction(services, user_id=1), FakeInteraction(services, user_id=2)
    running = asyncio.create_task(invoke(services, command, first, **options))
    await wait_until(lambda: engine.calls(route))  # its thread is open, its request at the engine
    uploaded = asyncio.Event()
    hold_uploads(first.thread, uploaded)
    waiting = asyncio.create_task(invoke(services, command, second, **options))
    try:
        await wait_until(lambda: len(engine.calls(route)) == 2, timeout=3)
        assert not any(m.files for m in first.thread.messages)  # the first answer's images are still uploading
        still_open = services.queue.open_jobs()[0]  # its cancel button and a shutdown still reach it
        assert still_open.user_id == 1 and still_open.slot_freed and still_open.state == "running"
    finally:
        uploaded.set()
        await asyncio.wait_for(asyncio.gather(running, waiting), 5)
    for interaction in (first, second):
        status, *_, answer = interaction.thread.messages
        assert status.content == "✅ Done." and answer.files
    assert services.queue.running == 0 and services.queue.open_jobs() == []


async def test_a_shutdown_while_a_freed_job_uploads_tells_its_user_and_waits_for_that(engine, make_services):
    services = make_services(engine_max_concurrent=1)
    engine.plan("/v1/search", Plan(delay=0.3), Plan(delay=2))  # the second still at the engine at the stop
    first, second = FakeInteraction(services, user_id=1), FakeInteraction(services, user_id=2)
    running = asyncio.create_task(invoke(services, "search", first, query="a", k=1))
    await wait_until(lambda: engine.calls("/v1/search"))
    hold_uploads(first.thread, asyncio.Event())  # never taken
    waiting = asyncio.create_task(invoke(services, "search", second, query="b", k=1))
    await wait_until(lambda: len(engine.calls("/v1/search")) == 2, timeout=3)

    closed: list[bool] = []

    async def close() -> None:
        closed.append(True)

    drain = Drain(SimpleNamespace(services=services, close=close), grace_s=5)
    drain.begin()
    await asyncio.wait_for(drain.wait(), 5)
    await asyncio.wait_for(asyncio.gather(running, waiting), 5)
    assert closed == [True]
    for interaction in (first, second):
        assert interaction.thread.messages[0].content == text.STOPPED_BY_RESTART
    assert services.queue.running == 0 and services.queue.open_jobs() == []
