"""The bounded model-work queue: 429 when full, dropping and cancelling work nobody waits for, 504."""

import asyncio
import threading

import httpx
import pytest

from engine.api.app import create_app
from engine.api.queue import EngineDraining, QueueClosed, QueueFull, WorkQueue
from tests.engine.pipelines.fakes import NoiseDiffusion

from .helpers import fake_runtime, serving, wait_until


async def test_work_queue_reports_positions_refuses_when_full_and_drops_cancelled_waiting_jobs():
    queue = WorkQueue(size=2, workers=1)
    queue.start()
    gate, ran = threading.Event(), []
    try:
        first = queue.submit(lambda job: gate.wait(5) and ran.append("first"))
        await asyncio.to_thread(wait_until, first.started.is_set)
        second = queue.submit(lambda job: ran.append("second"))
        third = queue.submit(lambda job: ran.append("third"))
        with pytest.raises(QueueFull, match=r"2 requests are waiting \(the limit is 2\)"):
            queue.submit(lambda job: None)
        assert queue.discard(second) is True and second.cancel.is_set()
        gate.set()
        await asyncio.wait_for(asyncio.gather(first.future, third.future), 5)
        assert second.future.cancelled()
        assert ran == ["first", "third"]
        assert (queue.completed, queue.dropped) == (2, 1)
        third_positions = []
        while not third.events.empty():
            third_positions.append(third.events.get_nowait().position)
        assert third_positions == [2, 1, 0]  # behind `second`, then first in line, then running
    finally:
        queue.stop()


async def test_a_failing_job_hands_its_exception_to_the_request():
    queue = WorkQueue(size=1, workers=1)
    queue.start()
    try:
        job = queue.submit(lambda job: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            await asyncio.wait_for(job.future, 5)
        assert queue.failed == 1
    finally:
        queue.stop()


def test_work_queue_checks_its_arguments():
    with pytest.raises(ValueError, match="size: at least 1"):
        WorkQueue(size=0)
    with pytest.raises(ValueError, match="workers: at least 1"):
        WorkQueue(size=1, workers=0)


def _post_in_thread(url: str, body: dict, results: list, timeout: float = 20.0) -> threading.Thread:
    def run() -> None:
        try:
            results.append(httpx.post(url, json=body, timeout=timeout))
        except httpx.HTTPError as exc:
            results.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_full_queue_answers_429_with_retry_after_and_the_waiting_requests_still_finish(tmp_path):
    gate = threading.Event()
    diffusion = NoiseDiffusion(gate=gate)
    app = create_app(fake_runtime(tmp_path, diffusion=diffusion, queue_size=1, gpu_workers=1, retry_after_s=7))
    queue = app.state.work_queue
    with serving(app) as url:
        results: list = []
        running = _post_in_thread(f"{url}/v1/generate", {"prompt": "a", "steps": 1, "seed": 1}, results)
        wait_until(diffusion.started.is_set)
        waiting = _post_in_thread(f"{url}/v1/generate", {"prompt": "b", "steps": 1, "seed": 2}, results)
        wait_until(lambda: queue.waiting == 1)
        full = httpx.post(f"{url}/v1/search", json={"query": "pneumothorax"}, timeout=10)
        assert full.status_code == 429
        assert full.headers["retry-after"] == "7"
        assert full.json()["error"] == {
            "code": "busy",
            "message": "the engine is busy: 1 requests are waiting (the limit is 1); retry in 7 s",
            "retryable": True,
        }
        gate.set()
        running.join(10), waiting.join(10)
        assert sorted(r.json()["seed"] for r in results) == [1, 2]


def test_queued_work_of_a_client_that_disconnects_is_dropped_without_running(tmp_path):
    gate = threading.Event()
    diffusion = NoiseDiffusion(gate=gate)
    app = create_app(fake_runtime(tmp_path, diffusion=diffusion, queue_size=4, gpu_workers=1))
    queue = app.state.work_queue
    with serving(app) as url:
        patient: list = []
        running = _post_in_thread(f"{url}/v1/generate", {"prompt": "a", "steps": 2}, patient)
        wait_until(diffusion.started.is_set)
        impatient: list = []
        # this client queues behind "a", gives up after 0.5 s and closes its connection
        _post_in_thread(f"{url}/v1/generate", {"prompt": "b", "steps": 2}, impatient, timeout=0.5)
        wait_until(lambda: len(impatient) == 1)
        assert isinstance(impatient[0], httpx.ReadTimeout)
        wait_until(lambda: queue.dropped == 1 and queue.waiting == 0)
        gate.set()
        running.join(10)
        assert patient[0].status_code == 200
        assert [c["prompt"] for c in diffusion.calls] == ["a"]  # "b" never reached the model


def test_a_client_that_disconnects_stops_its_running_generation(tmp_path):
    diffusion = NoiseDiffusion(step_delay=0.01)
    app = create_app(fake_runtime(tmp_path, diffusion=diffusion))
    with serving(app) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/generate", json={"prompt": "a", "steps": 100}, timeout=0.4)
        wait_until(lambda: diffusion.cancelled == 1)
        assert 0 < diffusion.steps_run < 100
        # the engine is free again
        assert httpx.post(f"{url}/v1/generate", json={"prompt": "c", "steps": 2}, timeout=10).status_code == 200


def test_a_slow_request_times_out_with_504_and_its_generation_stops(tmp_path):
    diffusion = NoiseDiffusion(step_delay=0.02)
    app = create_app(fake_runtime(tmp_path, diffusion=diffusion, request_timeout_s=0.3))
    with serving(app) as url:
        response = httpx.post(f"{url}/v1/generate", json={"prompt": "a", "steps": 100}, timeout=10)
        assert response.status_code == 504
        assert response.json()["error"] == {
            "code": "timeout", "message": "no answer within 0.3 s (MIRAGE_REQUEST_TIMEOUT_S)", "retryable": False
        }
        wait_until(lambda: diffusion.cancelled == 1)
        assert diffusion.steps_run < 100


class _CancelledRightAfterTheFirstLook(threading.Event):
    """A job's cancel event whose client leaves just after a worker first looks at it: the window
    between a worker taking the job and starting it, made deterministic."""

    def __init__(self, on_second_look) -> None:
        super().__init__()
        self.looks = 0
        self.on_second_look = on_second_look

    def is_set(self) -> bool:
        self.looks += 1
        if self.looks == 2:
            self.on_second_look()
        return super().is_set()


async def test_a_job_cancelled_between_taken_and_started_is_decided_once_and_never_stays_counted():
    queue = WorkQueue(size=2, workers=1)
    queue.start()
    gate, ran = threading.Event(), []
    try:
        blocker = queue.submit(lambda job: gate.wait(5))
        await asyncio.to_thread(wait_until, blocker.started.is_set)
        job = queue.submit(lambda job: ran.append(job.cancel.is_set()))
        # the request gives up (as _abandon does) right after the worker's first look at the job
        job.cancel = _CancelledRightAfterTheFirstLook(lambda: queue.discard(job))
        gate.set()
        await asyncio.wait([job.future], timeout=5)
        assert job.future.done()
        await asyncio.to_thread(wait_until, lambda: queue.running == 0, 5)
        # decided at the take: it ran (and saw the cancel), or was dropped, but never both or neither
        assert queue.completed + queue.failed + queue.dropped == 2
        assert (ran, queue.dropped) in (([True], 0), ([], 1))
    finally:
        assert await asyncio.to_thread(queue.stop)


async def test_stop_lets_running_work_finish_within_the_grace_then_cancels_it():
    queue = WorkQueue(size=4, workers=1)
    queue.start()

    def until_cancelled(job) -> str:
        return "cancelled" if job.cancel.wait(5) else "finished"

    running = queue.submit(until_cancelled)
    await asyncio.to_thread(wait_until, running.started.is_set)
    waiting = queue.submit(lambda job: "never")
    # stop() blocks (joins threads): it runs off the event loop, which keeps serving meanwhile
    stopping = asyncio.ensure_future(asyncio.to_thread(queue.stop, grace_s=0.3, timeout=5))
    await asyncio.sleep(0.1)
    assert not stopping.done() and queue.running == 1  # within the grace the work goes on
    # the waiting job was answered at once: its client learns the engine is leaving
    assert isinstance(waiting.future.exception(), EngineDraining)
    with pytest.raises(QueueClosed):
        queue.submit(lambda job: None)
    assert await asyncio.wait_for(stopping, 5) is True
    assert running.future.result() == "cancelled" and queue.running == 0


async def test_shutdown_joins_the_workers_off_the_event_loop_and_closes_the_runtime_after_them(tmp_path):
    runtime = fake_runtime(tmp_path)
    app = create_app(runtime)
    order: list[str] = []
    real_close = runtime.close
    runtime.close = lambda: (order.append("runtime closed"), real_close())
    release = threading.Event()

    def stubborn(job) -> None:  # ignores its cancel event for a while, as a long model call does
        release.wait(5)
        order.append("work finished")

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async with app.router.lifespan_context(app):
        job = app.state.work_queue.submit(stubborn)
        await asyncio.to_thread(wait_until, job.started.is_set)
        clock = asyncio.ensure_future(ticker())
        threading.Timer(0.5, release.set).start()
    clock.cancel()
    # the loop kept turning while the shutdown waited for the worker (a join on the loop would freeze it)
    assert ticks >= 20
    assert order == ["work finished", "runtime closed"]
