"""The bot sends as many jobs at once as the engine says it can take (its /readyz `capacity`)."""

from __future__ import annotations

import asyncio

import httpx

from bot.capacity import engine_capacity, follow_engine_capacity
from bot.queue import JobQueue
from engine.api.app import create_app
from tests.engine.api.helpers import fake_runtime, serving


async def test_the_queue_grows_to_the_engines_capacity_and_waiting_jobs_start(tmp_path):
    queue = JobQueue(max_concurrent=1, per_user_cap=5, cooldown_s=0)
    release = asyncio.Event()
    jobs = [queue.submit(user, "search") for user in (1, 2, 3, 1)]
    runs = [asyncio.ensure_future(queue.run(job, release.wait)) for job in jobs]
    await asyncio.sleep(0)
    assert queue.running == 1
    app = create_app(fake_runtime(tmp_path, batch_max=3))  # three pipeline workers
    with serving(app) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            assert await engine_capacity(http) == 3
            follower = asyncio.ensure_future(follow_engine_capacity(http, queue, every_s=30))
            for _ in range(200):
                if queue.max_concurrent == 3:
                    break
                await asyncio.sleep(0.02)
            follower.cancel()
    assert queue.max_concurrent == 3 and queue.running == 3
    # still fair: the three users each got a turn before user 1's second job
    assert [job.state for job in jobs] == ["running", "running", "running", "waiting"]
    release.set()
    await asyncio.gather(*runs)


async def test_an_engine_that_cannot_be_reached_leaves_the_queue_as_it_is():
    queue = JobQueue(max_concurrent=2, per_user_cap=1, cooldown_s=0)
    async with httpx.AsyncClient(base_url="http://127.0.0.1:9") as http:
        assert await engine_capacity(http) is None
        follower = asyncio.ensure_future(follow_engine_capacity(http, queue, every_s=30))
        await asyncio.sleep(0.2)
        follower.cancel()
    assert queue.max_concurrent == 2


def test_shrinking_lets_running_jobs_finish_and_starts_no_new_one():
    async def scenario() -> None:
        queue = JobQueue(max_concurrent=3, per_user_cap=5, cooldown_s=0)
        release = asyncio.Event()
        jobs = [queue.submit(user, "generate") for user in (1, 2, 3, 4)]
        runs = [asyncio.ensure_future(queue.run(job, release.wait)) for job in jobs]
        await asyncio.sleep(0)
        queue.resize(1)
        assert queue.running == 3 and jobs[3].state == "waiting"
        release.set()
        await asyncio.gather(*runs)
        assert queue.running == 0 and queue.peak_running == 3

    asyncio.run(scenario())
