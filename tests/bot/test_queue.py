"""The job queue: fair order across users, caps, cooldown, bounded concurrency, slots always freed."""

from __future__ import annotations

import asyncio

import pytest

from bot.queue import JobCancelled, JobQueue, QueueRejected

from .conftest import invoke
from .engine_standin import Plan
from .fakes import FakeInteraction, wait_until


async def test_one_user_with_many_jobs_cannot_starve_the_others():
    queue = JobQueue(max_concurrent=1, per_user_cap=5, cooldown_s=0)
    started: list[str] = []
    gate = asyncio.Event()

    async def job(name: str) -> None:
        started.append(name)
        await gate.wait()

    jobs = [
        (name, queue.submit(user, name))
        for name, user in [("a1", 1), ("a2", 1), ("a3", 1), ("a4", 1), ("b1", 2), ("c1", 3)]
    ]
    assert [j.label for j in queue.waiting_order()] == ["a2", "b1", "c1", "a3", "a4"]
    assert [queue.position(j) for _, j in jobs] == [0, 1, 4, 5, 2, 3]
    tasks = [asyncio.create_task(queue.run(j, lambda n=name: job(n))) for name, j in jobs]
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(*tasks)
    assert started == ["a1", "a2", "b1", "c1", "a3", "a4"]


async def test_a_waiting_user_sees_each_new_place_until_it_starts():
    queue = JobQueue(max_concurrent=1, per_user_cap=3, cooldown_s=0)
    release = [asyncio.Event() for _ in range(3)]
    places: list[int] = []

    async def record(place: int) -> None:
        places.append(place)

    jobs = [queue.submit(user, f"j{user}") for user in (1, 2, 3, 4)]
    tasks = [asyncio.create_task(queue.run(j, release[i].wait)) for i, j in enumerate(jobs[:3])]
    last = asyncio.create_task(queue.run(jobs[3], lambda: asyncio.sleep(0), on_position=record))
    for event in release:
        await asyncio.sleep(0.01)
        event.set()
    await asyncio.gather(*tasks, last)
    assert places == [3, 2, 1]


async def test_the_per_user_cap_refuses_with_the_limit_and_frees_up_after_a_job():
    queue = JobQueue(max_concurrent=4, per_user_cap=2, cooldown_s=0)
    first, _ = queue.submit(7, "a"), queue.submit(7, "b")
    with pytest.raises(QueueRejected, match="the limit is 2"):
        queue.submit(7, "c")
    queue.submit(8, "other users are not affected")
    await queue.run(first, lambda: asyncio.sleep(0))
    queue.submit(7, "c")  # a slot of user 7 came free


async def test_the_cooldown_refuses_until_it_has_passed():
    now = [100.0]
    queue = JobQueue(max_concurrent=1, per_user_cap=5, cooldown_s=10, clock=lambda: now[0])
    queue.submit(1, "a")
    now[0] += 4
    with pytest.raises(QueueRejected, match="in 6 s"):
        queue.submit(1, "b")
    queue.submit(2, "another user may")
    now[0] += 6
    queue.submit(1, "b")


async def test_never_more_jobs_at_once_than_allowed():
    queue = JobQueue(max_concurrent=2, per_user_cap=3, cooldown_s=0)
    busy, peak = 0, 0

    async def work() -> None:
        nonlocal busy, peak
        busy += 1
        peak = max(peak, busy)
        await asyncio.sleep(0.02)
        busy -= 1

    jobs = [queue.submit(user, "x") for user in (1, 1, 1, 2, 2, 3)]
    await asyncio.gather(*(queue.run(j, work) for j in jobs))
    assert peak == 2 and queue.peak_running == 2 and queue.running == 0


async def test_a_failing_job_frees_its_slot_for_the_next():
    queue = JobQueue(max_concurrent=1, per_user_cap=2, cooldown_s=0)

    async def fail() -> None:
        raise RuntimeError("engine exploded")

    bad, good = queue.submit(1, "bad"), queue.submit(2, "good")
    results = await asyncio.gather(
        queue.run(bad, fail), queue.run(good, lambda: asyncio.sleep(0, "ok")), return_exceptions=True
    )
    assert isinstance(results[0], RuntimeError) and results[1] == "ok"
    assert queue.running == 0 and queue.open_jobs() == []


async def test_a_job_never_run_is_freed_by_close():
    queue = JobQueue(max_concurrent=1, per_user_cap=1, cooldown_s=0)
    job = queue.submit(1, "acknowledgement failed")
    queue.close(job)
    queue.close(job)  # twice is harmless
    assert queue.running == 0
    queue.submit(1, "the user may ask again")


async def test_cancel_waiting_and_running_jobs_only_by_their_owner():
    queue = JobQueue(max_concurrent=1, per_user_cap=2, cooldown_s=0)
    running, waiting = queue.submit(1, "r"), queue.submit(2, "w")
    run_task = asyncio.create_task(queue.run(running, lambda: asyncio.sleep(10)))
    wait_task = asyncio.create_task(queue.run(waiting, lambda: asyncio.sleep(0)))
    await asyncio.sleep(0.01)

    assert not queue.cancel(waiting.id, user_id=1)  # not theirs
    assert queue.cancel(waiting.id, user_id=2)
    with pytest.raises(JobCancelled):
        await wait_task
    assert queue.cancel(running.id, user_id=1)
    with pytest.raises(JobCancelled):
        await run_task
    assert queue.running == 0 and queue.open_jobs() == []
    assert not queue.cancel(running.id, user_id=1)  # already gone


def test_bad_queue_settings_name_the_limit():
    with pytest.raises(ValueError, match="max_concurrent"):
        JobQueue(max_concurrent=0, per_user_cap=1, cooldown_s=0)


# --- through the command handlers ------------------------------------------------------
async def test_users_see_their_place_and_the_engine_never_gets_more_than_allowed(engine, make_services):
    services = make_services(engine_max_concurrent=1)
    engine.plan("/v1/search", Plan(delay=0.4), Plan(delay=0.1), Plan(delay=0.1))
    users = [FakeInteraction(services, user_id=u) for u in (1, 2, 3)]
    tasks = []
    for n, interaction in enumerate(users):
        tasks.append(asyncio.create_task(invoke(services, "search", interaction, query="q", k=1)))
        await wait_until(lambda n=n: len(services.queue.open_jobs()) == n + 1)
    await asyncio.gather(*tasks)

    third = users[2].thread.messages[0]
    shown = third.content_history
    assert shown[0] == "⏳ Place 2 in the queue."
    assert "⏳ You're next in the queue." in shown and shown[-1] == "✅ Done."
    assert engine.peak_in_flight == 1
    assert all(u.thread.messages[0].content == "✅ Done." for u in users)


async def test_cap_and_cooldown_are_told_privately_without_touching_the_engine(engine, make_services):
    services = make_services(user_cooldown_s=60)
    first, second = FakeInteraction(services, user_id=5), FakeInteraction(services, user_id=5)
    await invoke(services, "search", first, query="q", k=1)
    await invoke(services, "search", second, query="q", k=1)

    assert "Slow down" in second.ephemeral_text and "60 s" in second.ephemeral_text
    assert not second.response.deferred
    assert len(engine.calls("/v1/search")) == 1

    capped = make_services(user_open_jobs_max=1)
    engine.plan("/v1/search", Plan(delay=0.3))
    busy = asyncio.create_task(invoke(capped, "search", FakeInteraction(capped, user_id=6), query="q", k=1))
    await wait_until(lambda: capped.queue.open_jobs())
    refused = FakeInteraction(capped, user_id=6)
    await invoke(capped, "generate", refused, prompt="p")
    await busy
    assert "You already have 1 request(s) open (the limit is 1)" in refused.ephemeral_text


async def test_a_shutdown_stops_waiting_and_running_jobs_of_every_user_and_frees_every_slot():
    queue = JobQueue(max_concurrent=1, per_user_cap=2, cooldown_s=0)
    running, waiting = queue.submit(1, "generate"), queue.submit(2, "search")
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(60)

    tasks = [asyncio.create_task(queue.run(job, slow)) for job in (running, waiting)]
    await started.wait()
    assert (running.state, waiting.state) == ("running", "waiting")
    assert queue.interrupt_all() == [running, waiting]
    for task in tasks:
        with pytest.raises(JobCancelled):
            await task
    assert running.interrupted and waiting.interrupted
    assert queue.open_jobs() == [] and queue.running == 0
    assert queue.interrupt_all() == []  # nothing left to stop
