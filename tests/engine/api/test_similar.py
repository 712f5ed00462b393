"""POST /v1/search/similar/{atlas_id}: more like an atlas image, by its stored vector (fake models)."""

import pytest
from fastapi.testclient import TestClient

from engine.api.app import create_app

from .helpers import CAPTIONS, fake_runtime


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with TestClient(create_app(fake_runtime(tmp_path_factory.mktemp("engine")))) as client:
        yield client


def test_similar_leaves_the_image_itself_out_and_ranks_the_others_by_its_stored_vector(client):
    body = client.post("/v1/search/similar/ROCO_00001", json={"k": 3}).json()
    ids = [h["id"] for h in body["hits"]]
    assert body["id"] == "ROCO_00001" and "ROCO_00001" not in ids
    assert sorted(ids) == sorted(set(CAPTIONS) - {"ROCO_00001"})
    scores = [h["score"] for h in body["hits"]]
    assert scores == sorted(scores, reverse=True)
    # the same ranking as a text search for the image's own caption minus the image (the fake CLIP's
    # text and image spaces are one, and the stored vector is the caption's)
    search = client.post("/v1/search", json={"query": CAPTIONS["ROCO_00001"], "k": 4, "enrich": False}).json()
    assert [h["id"] for h in search["hits"] if h["id"] != "ROCO_00001"] == ids
    assert body["disclaimer"] == "For education, not diagnosis."


def test_similar_answers_k_hits_at_most(client):
    assert len(client.post("/v1/search/similar/ROCO_00003", json={"k": 1}).json()["hits"]) == 1
    assert len(client.post("/v1/search/similar/ROCO_00003", json={}).json()["hits"]) == 3  # all the others


def test_an_unknown_atlas_id_is_404_naming_it(client):
    response = client.post("/v1/search/similar/ROCO_99999", json={"k": 2})
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found", "message": "no atlas image with id 'ROCO_99999'", "retryable": False,
    }


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/search/similar/ROCO_00001", {"k": 11}, "k: at most 10"),
        ("/v1/search/similar/ROCO_00001", {"k": 1.5}, "k: an integer is expected"),
        ("/v1/search/similar/ROCO 1", {"k": 1}, "atlas_id: must match the pattern"),
        ("/v1/search/similar/" + "A" * 65, {"k": 1}, "atlas_id: at most 64 characters"),
    ],
)
def test_bad_input_is_422_naming_the_field(client, path, body, message):
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(message)
