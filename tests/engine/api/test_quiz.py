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
from engine.tiny.demo_atlas import demo_pairs

from .helpers import indexed_demo_atlas, serving, settings_for

pytestmark = pytest.mark.slow  # the tiny CLIP and the demo atlas
TOKEN = "quiz-route-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory, clip_encoder, demo_atlas_dir):
    data_dir = tmp_path_factory.mktemp("engine")
    store = indexed_demo_atlas(data_dir, demo_atlas_dir, clip_encoder)
    runtime = EngineRuntime.from_components(settings_for(data_dir, engine_token=TOKEN, quiz_topic_floor=0.5), clip=clip_encoder, store=store)
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
    assert len(body["hints"]) == 3 and body["hints"][0].startswith("The image shows — modality: ")
    image = engine.get(body["image_url"])
    assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).size[0] > 0
    assert engine.post("/v1/quiz", json={"seed": 7, "choices": 4}).json()["choices"] == choices


def test_every_choice_carries_its_full_caption_source_and_image_for_the_reveal(engine):
    body = engine.post("/v1/quiz", json={"seed": 11, "choices": 5}).json()
    pmc_ids = [c["source"]["pmc_id"] for c in body["choices"]]
    assert len(set(pmc_ids)) == 5  # five articles: no sibling panel offered beside the item
    for choice in body["choices"]:
        assert choice["source"]["roco_id"] == choice["id"] and choice["source"]["licence"] == "CC BY"
        assert choice["source"]["collection"] == "ROCO"  # stored by the ingestion of the demo's ROCO tree
        assert choice["image_url"] == f"/v1/atlas/{choice['id']}/image"
        atlas = engine.get(f"/v1/atlas/{choice['id']}").json()
        assert atlas["caption"] == choice["full_text"]
        assert engine.get(choice["image_url"]).status_code == 200


def test_the_hint_ladder_and_the_points_travel_as_data(engine):
    body = engine.post("/v1/quiz", json={"seed": 4, "choices": 4}).json()
    ladder = body["hint_ladder"]
    assert [h["kind"] for h in ladder] == ["shows", "strike", "strike"]
    assert [h["text"] for h in ladder] == body["hints"]
    assert all(h["strike"] != body["answer"] and h["text"] == f"Not {'ABCD'[h['strike']]}." for h in ladder[1:])
    assert body["points_by_hints"] == [10, 7, 4, 2]
    assert body["pool_size"] == 240 and body["notes"] == []
    assert {c["cui"] for c in body["item"]["concepts"]} and all(c["name"] for c in body["item"]["concepts"])


def test_a_modality_question(engine):
    body = engine.post("/v1/quiz", json={"seed": 2, "kind": "modality", "choices": 3}).json()
    assert len(body["choices"]) == 3 and body["item"]["modality"] in ("x-ray", "ct", "mri", "ultrasound",
                                                                      "angiography", "nuclear")
    assert body["choices"][body["answer"]] == {"text": body["choices"][body["answer"]]["full_text"],
                                               "full_text": body["choices"][body["answer"]]["full_text"],
                                               "id": None, "source": None, "image_url": None}
    assert body["points_by_hints"] == [10, 7, 2]  # 3 choices: one strike, two choices stay


def test_a_modality_question_with_a_modality_filter_is_a_422_naming_both(engine):
    response = engine.post("/v1/quiz", json={"kind": "modality", "modality": "ct"})
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("kind, modality: a modality question takes no modality")


def test_too_few_items_is_a_409_listing_what_is_available(engine):
    response = engine.post("/v1/quiz", json={"modality": "other"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "too_few_items" and error["retryable"] is False
    assert error["message"].startswith("modality: 'other' has 0 usable quiz items")
    assert "x-ray 40, ct 40, mri 40, ultrasound 40, angiography 40, nuclear 40" in error["message"]


def test_a_concept_quiz_asks_only_images_with_that_concept(engine, demo_atlas_dir):
    nodules = sum(" nodule " in caption for _, caption, _ in demo_pairs(demo_atlas_dir))
    for seed in range(4):
        body = engine.post("/v1/quiz", json={"seed": seed, "concept": "C0028259"}).json()
        assert "C0028259" in {c["cui"] for c in body["item"]["concepts"]}
        assert body["pool_size"] == nodules  # C0028259 is the demo's "nodule"


def test_an_unknown_concept_is_a_409_saying_there_are_none(engine):
    response = engine.post("/v1/quiz", json={"concept": "C9999999"})
    assert response.status_code == 409
    assert response.json()["error"]["message"] == (
        "concept: C9999999 is on 0 usable quiz items; a concept quiz needs at least 5")


def test_a_topic_quiz_draws_from_the_images_nearest_the_topic(engine):
    body = engine.post("/v1/quiz", json={"seed": 1, "topic": "ring-shaped"}).json()
    assert 5 <= body["pool_size"] <= 200


def test_a_topic_with_too_few_images_is_a_409_naming_how_many(engine):
    # the tiny CLIP puts 4 demo images at cosine >= 0.5 to "angiography" (measured; bench/README.md)
    response = engine.post("/v1/quiz", json={"topic": "angiography"})
    assert response.status_code == 409
    assert response.json()["error"]["message"] == (
        "topic: 'angiography' matches 4 usable quiz items with CLIP similarity at least 0.5; a topic quiz needs "
        "at least 5: try a broader topic")


def test_an_explicit_set_is_walked_in_order_and_unknown_ids_are_named(engine):
    ids = ["ROCO_00010", "NOPE_1", "ROCO_00020", "ROCO_00030", "NOPE_2"]
    asked = [engine.post("/v1/quiz", json={"seed": k, "item_ids": ids}).json() for k in range(4)]
    assert [b["item"]["id"] for b in asked] == ["ROCO_00010", "ROCO_00020", "ROCO_00030", "ROCO_00010"]
    assert asked[0]["pool_size"] == 3
    assert asked[0]["notes"] == ["item_ids: not in the atlas, left out: NOPE_1, NOPE_2"]
    response = engine.post("/v1/quiz", json={"item_ids": ["NOPE_1"]})
    assert response.status_code == 409 and "NOPE_1" in response.json()["error"]["message"]


@pytest.mark.parametrize(("body", "message"), [
    ({"choices": 6}, "choices: at most 5"),
    ({"choices": 2}, "choices: at least 3"),
    ({"kind": "anatomy"}, "kind: one of 'caption' or 'modality'"),
    ({"seed": -1}, "seed: at least 0"),
])
def test_bad_input_is_a_422_naming_the_field(engine, body, message):
    response = engine.post("/v1/quiz", json=body)
    assert response.status_code == 422 and response.json()["error"]["message"] == message


def test_a_concept_that_is_no_cui_is_a_422_naming_the_pattern(engine):
    response = engine.post("/v1/quiz", json={"concept": "pneumothorax"})
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("concept: must match the pattern ^C[0-9]{7}$")


def test_at_most_one_pool_is_a_422_naming_the_fields(engine):
    response = engine.post("/v1/quiz", json={"topic": "mass", "item_ids": ["ROCO_00001"]})
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "topic, item_ids: give at most one of topic, concept, item_ids"


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
    assert {"200", "401", "409", "422", "429", "503", "504"} <= set(operation["responses"])
