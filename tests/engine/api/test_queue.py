"""The bounded model-work queue: 429 when full, dropping and cancelling work nobody waits for, 504."""

import asyncio
import threading

import httpx
import pytest

from engine.api.app import create_app
from engine.api.queue import QueueFull, WorkQueue
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
            third_positions.append(third.events.get_nowait()[1]["position"])
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
            "code": "timeout", "message": "no answer within 0.3 s (MIRAGE_REQUEST_TIMEOUT_S)"
        }
        wait_until(lambda: diffusion.cancelled == 1)
        assert diffusion.steps_run < 100
