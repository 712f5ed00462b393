"""Server-sent events on /v1/generate and /v1/search (format at the end of engine/contract.py)."""

import base64

import httpx
import pytest

from engine.api.app import create_app
from engine.api.sse import parse_events
from tests.engine.pipelines.fakes import NoiseDiffusion

from .helpers import fake_runtime, serving, wait_until

SSE = {"Accept": "text/event-stream"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    diffusion = NoiseDiffusion(step_delay=0.005)
    app = create_app(fake_runtime(tmp_path_factory.mktemp("engine"), diffusion=diffusion, request_timeout_s=5))
    with serving(app) as url:
        yield url, diffusion


def _stream(url: str, path: str, body: dict) -> list:
    with httpx.stream("POST", url + path, json=body, headers=SSE, timeout=20) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return parse_events(response.read().decode())


def test_generate_streams_queued_then_every_step_in_order_then_the_result(engine):
    url, _ = engine
    events = _stream(url, "/v1/generate", {"prompt": "pneumothorax", "steps": 6, "seed": 3})
    names = [name for name, _ in events]
    assert names[0] == "queued" and names[-1] == "result"
    assert [data["position"] for name, data in events if name == "queued"][-1] == 0
    progress = [(d["step"], d["total"]) for name, d in events if name == "progress"]
    assert progress == [(s, 6) for s in range(1, 7)]
    assert names.index("result") > max(i for i, n in enumerate(names) if n == "progress")
    result = events[-1][1]
    assert result["seed"] == 3 and result["steps"] == 6 and result["synthetic"] is True
    assert base64.b64decode(result["image_png_b64"]).startswith(b"\x89PNG")


def test_streamed_result_equals_the_plain_json_answer(engine):
    url, _ = engine
    body = {"prompt": "pneumothorax", "steps": 3, "seed": 9}
    streamed = _stream(url, "/v1/generate", body)[-1][1]
    plain = httpx.post(f"{url}/v1/generate", json=body, timeout=20).json()
    for key in ("image_png_b64", "seed", "steps", "guidance", "nearest", "prompt_used"):
        assert streamed[key] == plain[key]


def test_search_streams_queued_then_result(engine):
    url, _ = engine
    events = _stream(url, "/v1/search", {"query": "pleural effusion", "k": 2})
    names = [n for n, _ in events]
    assert names[0] == "queued" and names[-1] == "result" and set(names) == {"queued", "result"}
    assert events[-1][1]["enriched"] == "fracture of the distal radius"
    assert len(events[-1][1]["hits"]) == 2


def test_validation_errors_stay_plain_json_before_the_stream_starts(engine):
    url, _ = engine
    response = httpx.post(f"{url}/v1/generate", json={"prompt": ""}, headers=SSE, timeout=10)
    assert response.status_code == 422 and response.json()["error"]["message"] == "prompt: must not be empty"


def test_closing_the_stream_cancels_the_generation(engine):
    url, diffusion = engine
    before = diffusion.cancelled
    with httpx.stream("POST", f"{url}/v1/generate", json={"prompt": "x", "steps": 100}, headers=SSE,
                      timeout=20) as response:
        for line in response.iter_lines():
            if line.startswith("event: progress"):
                break  # leave after the first step
    wait_until(lambda: diffusion.cancelled == before + 1)


def test_a_timeout_arrives_as_an_error_event(tmp_path):
    app = create_app(fake_runtime(tmp_path, diffusion=NoiseDiffusion(step_delay=0.02), request_timeout_s=0.2))
    with serving(app) as url:
        events = _stream(url, "/v1/generate", {"prompt": "x", "steps": 100})
    assert events[-1] == (
        "error",
        {"error": {"code": "timeout", "message": "no answer within 0.2 s (MIRAGE_REQUEST_TIMEOUT_S)",
                   "retryable": False}, "status": 504},
    )


def test_every_event_of_a_real_stream_reads_back_through_the_contract_parser(engine):
    from engine.api.sse import split_events
    from engine.contract import (
        GenerateResponse,
        ProgressEvent,
        QueuedEvent,
        ResultEvent,
        parse_sse_event,
    )

    url, _ = engine
    with httpx.stream("POST", f"{url}/v1/generate", json={"prompt": "effusion", "steps": 2, "seed": 4},
                      headers=SSE, timeout=20) as response:
        events = [parse_sse_event(name, data) for name, data in split_events(response.read().decode())]
    assert isinstance(events[0], QueuedEvent) and isinstance(events[-1], ResultEvent)
    assert [(e.step, e.total) for e in events if isinstance(e, ProgressEvent)] == [(1, 2), (2, 2)]
    result = events[-1].parsed(GenerateResponse)
    assert (result.seed, result.steps, result.synthetic) == (4, 2, True)


def test_the_contract_parser_reads_errors_ignores_unknown_events_and_refuses_malformed_data():
    from engine.contract import StreamError, parse_sse_event

    error = parse_sse_event(
        "error", '{"error":{"code":"busy","message":"full","retryable":true},"status":429}'
    )
    assert isinstance(error, StreamError) and error.status == 429 and error.error.retryable is True
    assert parse_sse_event("heartbeat", "{}") is None  # a newer engine may add events
    with pytest.raises(ValueError):
        parse_sse_event("progress", '{"step": "one"}')
    with pytest.raises(ValueError):
        parse_sse_event("result", "[1, 2]")
