"""Input limits and the one error shape, through the app (fake models: these are HTTP behaviours)."""

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from engine.api.app import create_app
from engine.contract import IMAGE_MAX_BYTES

from .helpers import fake_runtime


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(fake_runtime(tmp_path_factory.mktemp("engine")))
    with TestClient(app) as client:
        yield client


def _error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body["error"]) == {"code", "message", "retryable"}
    assert body["error"]["retryable"] is (status in (408, 429, 503))
    return body["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"query": "x" * 501}, "query: at most 500 characters"),
        ({"query": ""}, "query: must not be empty"),
        ({}, "query: required"),
        ({"query": "ok", "k": 11}, "k: at most 10"),
        ({"query": "ok", "k": 0}, "k: at least 1"),
        ({"query": "ok", "k": "many"}, "k: an integer is expected"),
        ({"query": "ok", "modality": "xray"}, "modality: one of 'x-ray', 'ct'"),
        ({"query": " \t\n "}, "query: must not be empty"),
        # no coercion: what the schema calls an integer or a boolean must be one
        ({"query": "ok", "k": 2.5}, "k: an integer is expected"),
        ({"query": "ok", "k": "2"}, "k: an integer is expected"),
        ({"query": "ok", "enrich": "yes"}, "enrich: true or false is expected"),
        ({"query": "ok", "enrich": 1}, "enrich: true or false is expected"),
        ({"query": 5}, "query: a string is expected"),
    ],
)
def test_search_limits_answer_422_naming_the_field_and_the_limit(client, body, message):
    error = _error(client.post("/v1/search", json=body), 422)
    assert error["code"] == "invalid_input"
    assert error["message"].startswith(message)


def test_several_bad_fields_are_all_named(client):
    error = _error(client.post("/v1/compare", json={"query": "a", "subtract": "", "add": "y" * 600}), 422)
    assert error["message"] == "subtract: must not be empty; add: at most 500 characters"


def test_generate_refuses_what_its_schema_forbids_instead_of_coercing_it(client):
    error = _error(client.post("/v1/generate", json={"prompt": "p", "seed": 1.5, "fast": "yes"}), 422)
    assert error["message"] == "seed: an integer is expected; fast: true or false is expected"
    for seed in ("1", True):
        assert _error(client.post("/v1/generate", json={"prompt": "p", "seed": seed}), 422)["message"] == (
            "seed: an integer is expected"
        )
    # JSON Schema's "integer" is a number without a fraction: 1.0 is the integer 1 to the schema
    assert client.post("/v1/generate", json={"prompt": "p", "seed": 1.0, "steps": 1}).json()["seed"] == 1
    assert _error(client.post("/v1/generate", json={"prompt": "p", "guidance": "7"}), 422)["message"] == (
        "guidance: a number is expected"
    )
    # a whole number is a number: the schema's "number" includes it
    assert client.post("/v1/generate", json={"prompt": "p", "guidance": 7, "steps": 1}).status_code == 200


def test_the_fast_step_range_is_checked_at_the_door_and_published_in_the_schema(client):
    error = _error(client.post("/v1/generate", json={"prompt": "p", "steps": 9, "fast": True}), 422)
    assert error["message"] == "steps: between 1 and 8 in fast mode (got 9)"
    schema = client.get("/openapi.json").json()["components"]["schemas"]["GenerateRequest"]
    assert schema["then"]["properties"]["steps"]["anyOf"][0] == {"type": "integer", "minimum": 1, "maximum": 8}
    assert schema["if"] == {"properties": {"fast": {"const": True}}, "required": ["fast"]}


def test_generate_limits(client):
    assert _error(client.post("/v1/generate", json={"prompt": "p", "steps": 101}), 422)["message"] == (
        "steps: at most 100"
    )
    fast = _error(client.post("/v1/generate", json={"prompt": "p", "steps": 20, "fast": True}), 422)
    assert fast["message"] == "steps: between 1 and 8 in fast mode (got 20)"
    assert _error(client.post("/v1/generate", json={"prompt": "p", "guidance": -1}), 422)["message"] == (
        "guidance: at least 0.0"
    )


def test_an_unparseable_body_is_a_400_not_a_422(client):
    error = _error(client.post("/v1/search", content=b"{nope", headers={"content-type": "application/json"}), 400)
    assert error["code"] == "bad_request" and error["message"].startswith("body: not valid JSON")


def test_embed_limits_name_the_text(client):
    error = _error(client.post("/v1/embed", json={"texts": ["ok", "x" * 501, " ", ""]}), 422)
    assert error["message"] == (
        "texts[1]: at most 500 characters; texts[2]: must not be empty; texts[3]: must not be empty"
    )
    assert _error(client.post("/v1/embed", json={"texts": ["a"] * 65}), 422)["message"] == "texts: at most 64 items"


def test_embed_returns_unit_vectors(client):
    body = client.post("/v1/embed", json={"texts": ["pneumothorax", "fracture"]}).json()
    assert body["dim"] == 32 and len(body["vectors"]) == 2
    assert all(abs(sum(x * x for x in v) - 1) < 1e-5 for v in body["vectors"])


def test_unknown_route_and_unknown_atlas_id_are_404_in_the_error_shape(client):
    assert _error(client.get("/v1/nothing"), 404)["code"] == "not_found"
    assert "ROCO_99999" in _error(client.get("/v1/atlas/ROCO_99999"), 404)["message"]
    assert _error(client.get("/v1/atlas/ROCO_00001/image"), 404)["code"] == "not_found"  # no bytes stored


def test_atlas_entry_has_source_and_image_url(client):
    hit = client.get("/v1/atlas/ROCO_00002").json()
    assert hit["caption"] == "pneumothorax with visible pleural line"
    assert hit["source"]["roco_id"] == "ROCO_00002" and hit["source"]["licence"] == "CC BY"
    assert hit["image_url"] == "/v1/atlas/ROCO_00002/image"


def _png(size=(32, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_image_search_answers_hits(client):
    response = client.post("/v1/search/image", files={"image": ("x.png", _png(), "image/png")}, data={"k": "2"})
    assert response.status_code == 200, response.text
    assert len(response.json()["hits"]) == 2


def test_image_too_large_is_413_naming_the_limit(client):
    big = b"\0" * (IMAGE_MAX_BYTES + 100 * 1024)
    error = _error(client.post("/v1/search/image", files={"image": ("x.png", big, "image/png")}), 413)
    assert error["message"] == f"image: at most {IMAGE_MAX_BYTES} bytes (10 MiB)"


def test_image_just_over_the_limit_is_413_even_within_the_multipart_slack(client):
    big = b"\0" * (IMAGE_MAX_BYTES + 1)
    assert _error(client.post("/v1/search/image", files={"image": ("x.png", big, "image/png")}), 413)


def test_unreadable_image_and_bad_k_are_422(client):
    error = _error(client.post("/v1/search/image", files={"image": ("x.png", b"not an image", "image/png")}), 422)
    assert error["message"].startswith("image: not a readable image")
    error = _error(client.post("/v1/search/image", files={"image": ("x.png", _png(), "image/png")}, data={"k": "20"}), 422)
    assert error["message"] == "k: at most 10"
    assert _error(client.post("/v1/search/image", data={"k": "2"}), 422)["message"] == "image: required"


def test_openapi_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/readyz", "/v1/search", "/v1/search/image", "/v1/compare", "/v1/generate", "/v1/embed",
            "/v1/atlas/{atlas_id}", "/v1/atlas/{atlas_id}/image"} <= set(paths)
