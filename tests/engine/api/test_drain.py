"""Graceful drain: SIGTERM to a real `python -m engine serve` process with a job running and one waiting.

The running generation finishes and its client gets the image; the waiting one is answered 503 at
once (retryable, so the bot retries elsewhere); meanwhile /healthz says alive, /readyz says draining
and new work is refused with Retry-After; then the process exits 0. When the grace period is shorter
than the work, the work is cancelled and the process still exits promptly.
"""

from __future__ import annotations

import asyncio
import signal
import threading

import httpx
import pytest

from engine.api.app import create_app
from engine.api.drain import drain
from engine.api.sse import split_events
from engine.contract import (
    GenerateResponse,
    ProgressEvent,
    QueuedEvent,
    ResultEvent,
    StreamError,
    parse_sse_event,
)
from tests.engine.pipelines.fakes import NoiseDiffusion

from .helpers import fake_runtime, serving, tiny_engine_process, wait_until

TOKEN = "drain-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SSE = AUTH | {"Accept": "text/event-stream"}


class _Stream:
    """A generate request read as typed events on a thread; `events` fills as they arrive."""

    def __init__(self, url: str, body: dict) -> None:
        self.events: list = []
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, args=(url, body), daemon=True)
        self.thread.start()

    def _run(self, url: str, body: dict) -> None:
        try:
            with httpx.stream("POST", f"{url}/v1/generate", json=body, headers=SSE, timeout=120) as response:
                buffer = ""
                for text in response.iter_text():
                    buffer += text
                    *blocks, buffer = buffer.split("\n\n")
                    for name, data in split_events("\n\n".join(blocks)):
                        self.events.append(parse_sse_event(name, data))
        except Exception as exc:  # reported by the test
            self.error = exc


@pytest.fixture
def engine_process(tmp_path, test_cache_dir, demo_atlas_dir):
    env = {"MIRAGE_ENABLE_LLM": "false", "MIRAGE_ENGINE_TOKEN": TOKEN, "MIRAGE_GPU_WORKERS": "1",
           "MIRAGE_DRAIN_GRACE_S": "60", "MIRAGE_RETRY_AFTER_S": "3"}
    with tiny_engine_process(tmp_path, test_cache_dir, demo_atlas_dir, env) as running:
        yield running


@pytest.mark.slow
def test_sigterm_finishes_running_work_answers_waiting_work_503_and_exits_0(engine_process):
    url, process, log_path = engine_process
    running = _Stream(url, {"prompt": "Axial CT scan showing a dark square mass", "seed": 7, "steps": 24})
    wait_until(lambda: any(isinstance(e, ProgressEvent) for e in running.events) or running.error, 60)
    waiting = _Stream(url, {"prompt": "MRI", "seed": 8, "steps": 2})
    wait_until(lambda: any(isinstance(e, QueuedEvent) and e.position >= 1 for e in waiting.events), 30)

    process.send_signal(signal.SIGTERM)

    # the waiting job is answered at once, and says a retry (elsewhere) can help
    wait_until(lambda: isinstance(waiting.events[-1], StreamError), 20)
    refused = waiting.events[-1]
    assert (refused.status, refused.error.code, refused.error.retryable) == (503, "draining", True)
    # while draining: alive, not ready, new work refused with Retry-After
    assert httpx.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
    ready = httpx.get(f"{url}/readyz", timeout=5)
    assert ready.status_code == 503 and "draining" in ready.json()["error"]["message"]
    new = httpx.post(f"{url}/v1/search", json={"query": "CT", "enrich": False}, headers=AUTH, timeout=5)
    assert new.status_code == 503 and new.headers["retry-after"] == "3"
    assert new.json()["error"] == {
        "code": "draining", "retryable": True,
        "message": "the engine is shutting down; retry shortly (another engine may answer)",
    }
    assert process.poll() is None  # still finishing the running generation

    # the running generation completes for its client, then the process leaves cleanly
    running.thread.join(120)
    assert running.error is None, running.error
    result = running.events[-1]
    assert isinstance(result, ResultEvent), running.events[-3:]
    image = result.parsed(GenerateResponse)
    assert (image.seed, image.steps, image.synthetic) == (7, 24, True)
    assert process.wait(60) == 0, log_path.read_text()[-3000:]
    assert "draining: refusing new work" in log_path.read_text()


async def test_work_running_past_the_grace_period_is_cancelled_and_answered_503(tmp_path):
    diffusion = NoiseDiffusion(step_delay=0.05)
    app = create_app(fake_runtime(tmp_path, diffusion=diffusion))
    with serving(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            request = asyncio.ensure_future(client.post("/v1/generate", json={"prompt": "x", "steps": 100}))
            await asyncio.to_thread(wait_until, lambda: diffusion.steps_run > 0)
            finished = await drain(app, grace_s=0.3)
            response = await request
    assert finished is False and 0 < diffusion.steps_run < 100
    assert response.status_code == 503 and response.json()["error"]["retryable"] is True
