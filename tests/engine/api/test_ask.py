"""POST /v1/ask over a real loopback socket: auth, 404 naming the id, 422 naming the limit, SSE, OpenAPI."""

from __future__ import annotations

import httpx
import pytest

from engine.api.app import create_app
from engine.api.sse import parse_events
from engine.contract import DISCLAIMER
from tests.engine.pipelines.fakes import ScriptedLLM

from .helpers import fake_runtime, serving

TOKEN = "ask-route-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IDS = ["ROCO_00002", "ROCO_00001"]


def _reply(prompt: str) -> str:
    # cites the finding that mentions the pleural line, whatever number it got, and invents [9]
    number = next(line[1] for line in prompt.splitlines() if "pleural line" in line)
    return f"The pleural line shows a pneumothorax [{number}]; compare [9]."


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    llm = ScriptedLLM(_reply)
    app = create_app(fake_runtime(tmp_path_factory.mktemp("engine"), llm=llm, engine_token=TOKEN))
    with serving(app) as url, httpx.Client(base_url=url, timeout=20) as client:
        yield client, llm


def test_a_grounded_answer_with_its_citations_and_sources(engine):
    client, llm = engine
    response = client.post("/v1/ask", json={"question": "Why is it dark?", "context_ids": IDS, "seed": 4},
                           headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["grounded"] is True
    assert body["answer"] == "The pleural line shows a pneumothorax [1]; compare."
    assert body["citations"] == [{"n": 1, "id": "ROCO_00002"}]
    assert [s["id"] for s in body["sources"]] == IDS
    assert body["sources"][0]["source"] == {"roco_id": "ROCO_00002", "pmc_id": "PMC1", "licence": "CC BY",
                                            "collection": None}  # this in-memory atlas does not say its collection
    assert body["disclaimer"] == DISCLAIMER and "[9]" in " ".join(body["notes"])
    assert llm.calls[-1]["seed"] == 4
    assert "[1] pneumothorax with visible pleural line." in llm.calls[-1]["prompt"]


def test_ungrounded_answers_are_the_captions(tmp_path):
    app = create_app(fake_runtime(tmp_path, llm=ScriptedLLM("It is surely cancer.")))
    with serving(app) as url:
        body = httpx.post(f"{url}/v1/ask", json={"question": "What is it?", "context_ids": IDS}, timeout=20).json()
    assert body["grounded"] is False and body["citations"] == []
    assert body["answer"] == "[1] pneumothorax with visible pleural line\n[2] pleural effusion with blunted costophrenic angle"


def test_the_token_is_required(engine):
    client, _ = engine
    response = client.post("/v1/ask", json={"question": "Why?", "context_ids": IDS})
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_an_unknown_atlas_id_is_a_404_naming_it(engine):
    client, _ = engine
    response = client.post("/v1/ask", json={"question": "Why?", "context_ids": ["ROCO_00001", "ROCO_77777"]},
                           headers=AUTH)
    assert response.status_code == 404
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("not_found", "context_ids: no atlas image with id 'ROCO_77777'")


@pytest.mark.parametrize(("body", "message"), [
    ({"question": "", "context_ids": IDS}, "question: must not be empty"),
    ({"question": "x" * 501, "context_ids": IDS}, "question: at most 500 characters"),
    ({"question": "   ", "context_ids": IDS}, "question: must not be empty"),
    ({"question": "Why?", "context_ids": []}, "context_ids: at least 1 items"),
    ({"question": "Why?", "context_ids": [f"ROCO_{i:05d}" for i in range(11)]}, "context_ids: at most 10 items"),
    ({"question": "Why?", "context_ids": IDS, "seed": -3}, "seed: at least 0"),
    ({"question": "Why?"}, "context_ids: required"),
])
def test_bad_sizes_are_a_422_naming_the_limit(engine, body, message):
    client, _ = engine
    response = client.post("/v1/ask", json=body, headers=AUTH)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("invalid_input", message)


def test_a_malformed_id_is_refused_before_any_lookup(engine):
    client, _ = engine
    response = client.post("/v1/ask", json={"question": "Why?", "context_ids": ["../etc/passwd"]}, headers=AUTH)
    assert response.status_code == 422 and response.json()["error"]["message"].startswith("context_ids[0]:")


def test_the_answer_streams_as_server_sent_events(engine):
    client, _ = engine
    with client.stream("POST", "/v1/ask", json={"question": "Why?", "context_ids": IDS},
                       headers=AUTH | {"Accept": "text/event-stream"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_events(response.read().decode())
    names = [name for name, _ in events]
    assert names[0] == "queued" and names[-1] == "result"
    assert events[-1][1]["grounded"] is True and events[-1][1]["citations"] == [{"n": 1, "id": "ROCO_00002"}]


def test_the_route_is_in_the_openapi_document_with_its_errors(engine):
    client, _ = engine
    operation = client.get("/openapi.json").json()["paths"]["/v1/ask"]["post"]
    assert {"200", "401", "404", "422", "429", "503", "504"} <= set(operation["responses"])
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/AskRequest")
