"""The job queue under a whole school at once: thousands of jobs, failures and cancellations at every
step between submit and the end, errors raised by the flow's own hooks (a database that is down), and
jobs that free their slot early to post their answer (`release_slot`), then fail or are cancelled too.

Checked all along: the queue's running count equals the jobs that really hold a slot, never more than
allowed, a free slot is never left idle while someone waits, and in the end every job has ended and
every slot is free.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from bot.queue import Job, JobCancelled, JobQueue, Place
from bot.store import DatabaseUnavailable

JOBS = 3000
USERS = 400
MAX_CONCURRENT = 6


def holding(queue: JobQueue) -> int:
    """Jobs that hold a slot: granted, not freed early and not yet closed (a cancelled running job holds it
    until it ends)."""
    return sum(1 for j in queue.open_jobs() if j._granted.done() and not j._granted.cancelled() and not j.slot_freed)


def waiting(queue: JobQueue) -> int:
    return sum(1 for j in queue.open_jobs() if not j._granted.done())


async def test_thousands_of_jobs_with_failures_and_cancels_all_end_and_the_count_stays_true() -> None:
    rng = random.Random(20)
    queue = JobQueue(max_concurrent=MAX_CONCURRENT, per_user_cap=JOBS, cooldown_s=0, coarse_refresh_s=0.05)
    working = 0
    peak = 0
    ended: dict[str, str] = {}
    violations: list[str] = []

    def check(where: str) -> None:
        held = holding(queue)
        if queue.running != held:
            violations.append(f"{where}: running={queue.running} but {held} jobs hold a slot")
        if not 0 <= working <= queue.running <= MAX_CONCURRENT:
            violations.append(f"{where}: working={working} running={queue.running} max={MAX_CONCURRENT}")
        if queue.running < MAX_CONCURRENT and waiting(queue):
            violations.append(f"{where}: a slot is free while {waiting(queue)} jobs wait")

    async def flow(i: int) -> None:
        nonlocal working, peak
        job = queue.submit(i % USERS, f"job{i}")
        fate = rng.random()
        try:
            # between submit and run: the acknowledgement or the status line fails, or the owner cancels
            await asyncio.sleep(rng.random() * 0.01)
            if fate < 0.05:
                raise ConnectionError("Discord refused the status line")
            if fate < 0.10:
                queue.cancel(job.id, job.user_id)

            async def on_place(place: Place) -> None:
                check("on_place")
                assert place.ahead >= 0
                if rng.random() < 0.01:
                    raise DatabaseUnavailable("the database is unavailable right now")
                if rng.random() < 0.02:
                    queue.cancel(job.id, job.user_id)

            async def work() -> str:
                nonlocal working, peak
                working += 1  # jobs talking to the engine
                using_engine = True
                peak = max(peak, working)
                try:
                    check("work")
                    await asyncio.sleep(rng.random() * 0.003)
                    if rng.random() < 0.05:
                        raise DatabaseUnavailable("the database is unavailable right now")
                    if rng.random() < 0.3:  # its last engine call is made: it frees its slot, then posts
                        queue.release_slot(job)
                        working, using_engine = working - 1, False
                        check("released")
                        await asyncio.sleep(rng.random() * 0.005)
                        if rng.random() < 0.05:
                            raise ConnectionError("Discord refused the answer")
                    if rng.random() < 0.03:
                        queue.cancel(job.id, job.user_id)
                        await asyncio.sleep(0.01)
                    return "ok"
                finally:
                    if using_engine:
                        working -= 1

            await queue.run(job, work, on_place=on_place)
            ended[job.id] = "done"
        except JobCancelled:
            ended[job.id] = "cancelled"
        except (ConnectionError, DatabaseUnavailable):
            ended[job.id] = "failed"
        finally:
            queue.close(job)  # as run.py's _settled_at_end does
            check("closed")

    async def watch(stop: asyncio.Event) -> None:
        while not stop.is_set():
            check("watch")
            await asyncio.sleep(0.002)

    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(stop))
    flows = []
    for i in range(JOBS):  # a burst, in waves as Discord delivers them
        flows.append(asyncio.create_task(flow(i)))
        if i % 200 == 0:
            await asyncio.sleep(0)
    done, pending = await asyncio.wait(flows, timeout=120)
    stop.set()
    await watcher
    assert not pending, f"{len(pending)} jobs never ended"
    assert [t.exception() for t in done if t.exception()] == []
    assert len(ended) == JOBS and set(ended.values()) == {"done", "cancelled", "failed"}
    assert violations[:5] == []
    assert queue.running == 0 and queue.open_jobs() == [] and queue._line._tickets == []
    assert peak == MAX_CONCURRENT


@pytest.mark.parametrize("waiters", [1000])
async def test_a_start_wakes_only_the_head_of_the_line_not_every_waiter(waiters: int) -> None:
    """Places must not cost O(n) wake-ups per start (1,000 waiters x 1,000 starts was O(n^2))."""
    queue = JobQueue(max_concurrent=1, per_user_cap=1, cooldown_s=0, live_places=5, coarse_refresh_s=3600)
    seen: dict[int, list[Place]] = {}
    release = asyncio.Event()
    first = queue.submit(0, "running")
    runner = asyncio.create_task(queue.run(first, release.wait))
    jobs: list[Job] = [queue.submit(u, "w") for u in range(1, waiters + 1)]

    def hook(user: int):  # noqa: ANN202
        async def record(place: Place) -> None:
            seen.setdefault(user, []).append(place)
        return record

    tasks = [asyncio.create_task(queue.run(j, asyncio.sleep, on_place=hook(j.user_id))) for j in jobs[:50]]
    await asyncio.sleep(0.05)
    assert [seen[u][0].ahead for u in range(1, 6)] == [0, 1, 2, 3, 4]
    assert all(seen[u][0].exact for u in range(1, 6)) and not any(seen[u][0].exact for u in range(6, 51))
    assert seen[40][0].ahead == 39  # by submit order
    before = {u: len(p) for u, p in seen.items()}
    queue.cancel(jobs[0].id, jobs[0].user_id)  # the head leaves: the next five move up
    await asyncio.sleep(0.05)
    moved = {u for u, p in seen.items() if len(p) > before[u]}
    assert moved == {2, 3, 4, 5, 6}  # 6 entered the live places; 7…50 were not woken
    assert seen[6][-1] == Place(ahead=4, exact=True, eta_s=None)
    release.set()
    for job in jobs:
        queue.cancel(job.id, job.user_id)
    await asyncio.gather(runner, *tasks, return_exceptions=True)
    assert queue.running == 0


def test_near_the_front_the_place_is_exact_and_far_back_a_coarse_line_with_an_estimate() -> None:
    from bot.flows.run import place_text

    assert place_text(Place(ahead=0, exact=True)) == "⏳ You're next in the queue."
    assert place_text(Place(ahead=3, exact=True)) == "⏳ Place 4 in the queue."
    assert place_text(Place(ahead=437, exact=False, eta_s=350.0)) == (
        "⏳ About 450 requests ahead of yours, ~6 min. This line updates now and then."
    )
    assert place_text(Place(ahead=37, exact=False, eta_s=20.0)).startswith("⏳ About 40 requests ahead of yours, under a minute.")
    assert "~" not in place_text(Place(ahead=2500, exact=False, eta_s=None))  # no starts seen yet: no guess
