"""Server-sent events on /v1/generate, /v1/search and /v1/ask (format at the end of engine/contract.py)."""

import base64
import threading
import time

import httpx
import pytest

from engine.api.app import create_app
from engine.api.sse import parse_events
from engine.models.base import GenerationCancelled
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


def test_search_streams_queued_then_the_explanations_words_then_result(engine):
    url, _ = engine
    events = _stream(url, "/v1/search", {"query": "pleural effusion", "k": 2})
    names = [n for n, _ in events]
    assert names[0] == "queued" and names[-1] == "result" and set(names) == {"queued", "token", "result"}
    words = [data["text"] for name, data in events if name == "token"]
    assert words == ["fracture ", "of ", "the ", "distal ", "radius"]  # the scripted LLM writes a word at a time
    assert events[-1][1]["enriched"] == "fracture of the distal radius" == "".join(words)
    assert len(events[-1][1]["hits"]) == 2


def test_ask_streams_the_answers_words_then_the_checked_result(engine):
    url, _ = engine
    events = _stream(url, "/v1/ask", {"question": "Which bone?", "context_ids": ["ROCO_00003"]})
    names = [n for n, _ in events]
    assert names[0] == "queued" and names[-1] == "result" and "token" in names
    assert names.index("result") > max(i for i, n in enumerate(names) if n == "token")
    assert "".join(d["text"] for n, d in events if n == "token") == "fracture of the distal radius"
    # the scripted answer cites nothing: the checked result is the caption, not the streamed words
    assert events[-1][1]["grounded"] is False and events[-1][1]["answer"] == "[1] fracture of the distal radius"


def test_a_plain_json_ask_carries_no_events(engine):
    url, _ = engine
    response = httpx.post(f"{url}/v1/ask", json={"question": "Which bone?", "context_ids": ["ROCO_00003"]}, timeout=20)
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["sources"][0]["id"] == "ROCO_00003"


class SlowWriter:
    """An LLM at the TextGenerator edge that writes a word every 20 ms, up to 500, stopping when cancelled."""

    model_id = "slow-writer"

    def __init__(self) -> None:
        self.written = 0
        self.cancelled = threading.Event()

    def generate(self, prompt, *, max_new_tokens, top_p, seed, cancel=None, on_text=None) -> str:
        for n in range(500):
            if cancel is not None and cancel.is_set():
                self.cancelled.set()
                raise GenerationCancelled(f"cancelled after {n} words")
            self.written += 1
            if on_text is not None:
                on_text(f"word{n} ")
            time.sleep(0.02)
        return "done [1]"


def test_closing_an_ask_stream_after_its_first_words_stops_the_generation(tmp_path):
    writer = SlowWriter()
    with serving(create_app(fake_runtime(tmp_path, llm=writer, request_timeout_s=30))) as url:
        with httpx.stream("POST", f"{url}/v1/ask", json={"question": "Why?", "context_ids": ["ROCO_00001"]},
                          headers=SSE, timeout=20) as response:
            for line in response.iter_lines():
                if line.startswith("event: token"):
                    break  # the student pressed Cancel: the bot closes the stream
        wait_until(writer.cancelled.is_set)
    assert writer.written < 100  # stopped within a few words, far from its 500


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
