"""POST /v1/quiz over a real loopback socket, on the tiny CLIP and an embedded atlas of the demo images."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from engine.api.app import create_app
from engine.api.sse import parse_events
from engine.contract import DISCLAIMER, QUIZ_CHOICE_DISPLAY_CHARS
from engine.runtime import EngineRuntime

from .helpers import indexed_demo_atlas, serving, settings_for

pytestmark = pytest.mark.slow  # the tiny CLIP and the demo atlas
TOKEN = "quiz-route-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory, clip_encoder, demo_atlas_dir):
    data_dir = tmp_path_factory.mktemp("engine")
    store = indexed_demo_atlas(data_dir, demo_atlas_dir, clip_encoder)
    runtime = EngineRuntime.from_components(settings_for(data_dir, engine_token=TOKEN), clip=clip_encoder, store=store)
    with serving(create_app(runtime)) as url, httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
        yield client
    store.close()


def test_a_caption_question_with_its_image_choices_answer_and_hints(engine):
    response = engine.post("/v1/quiz", json={"seed": 7, "choices": 4})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "caption" and body["seed"] == 7 and body["disclaimer"] == DISCLAIMER
    assert body["question"] == "Which caption belongs to this image?"
    item, choices = body["item"], body["choices"]
    assert len(choices) == 4 and choices[body["answer"]]["id"] == item["id"]
    assert choices[body["answer"]]["full_text"] == item["caption"]
    assert len({c["id"] for c in choices}) == 4 and all(len(c["text"]) <= QUIZ_CHOICE_DISPLAY_CHARS for c in choices)
    assert item["source"]["roco_id"] == item["id"] and item["source"]["pmc_id"].startswith("PMC")
    assert len(body["hints"]) == 3 and body["hints"][0].startswith("Modality: ")
    image = engine.get(body["image_url"])
    assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).size[0] > 0
    assert engine.post("/v1/quiz", json={"seed": 7, "choices": 4}).json()["choices"] == choices


def test_a_modality_question(engine):
    body = engine.post("/v1/quiz", json={"seed": 2, "kind": "modality", "modality": "ct", "choices": 3}).json()
    assert body["item"]["modality"] == "ct" and len(body["choices"]) == 3
    assert body["choices"][body["answer"]] == {"text": "CT", "full_text": "CT", "id": None}


def test_too_few_items_is_a_422_listing_what_is_available(engine):
    response = engine.post("/v1/quiz", json={"modality": "other"})
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert message.startswith("modality: 'other' has 0 usable quiz items")
    assert "x-ray 40, ct 40, mri 40, ultrasound 40, angiography 40, nuclear 40" in message


@pytest.mark.parametrize(("body", "message"), [
    ({"choices": 6}, "choices: at most 5"),
    ({"choices": 2}, "choices: at least 3"),
    ({"kind": "anatomy"}, "kind: one of 'caption' or 'modality'"),
    ({"seed": -1}, "seed: at least 0"),
])
def test_bad_input_is_a_422_naming_the_field(engine, body, message):
    response = engine.post("/v1/quiz", json=body)
    assert response.status_code == 422 and response.json()["error"]["message"] == message


def test_the_token_is_required(engine):
    response = httpx.post(f"{engine.base_url}/v1/quiz", json={})
    assert response.status_code == 401


def test_the_question_streams_as_server_sent_events(engine):
    with engine.stream("POST", "/v1/quiz", json={"seed": 3}, headers={"Accept": "text/event-stream"}) as response:
        events = parse_events(response.read().decode())
    assert [n for n, _ in events][0] == "queued" and events[-1][0] == "result"
    assert events[-1][1]["seed"] == 3


def test_the_route_is_in_the_openapi_document(engine):
    operation = engine.get("/openapi.json").json()["paths"]["/v1/quiz"]["post"]
    assert {"200", "401", "422", "429", "503", "504"} <= set(operation["responses"])
