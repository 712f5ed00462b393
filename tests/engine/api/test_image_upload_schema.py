"""POST /v1/search/image: an empty file is invalid by the OpenAPI document itself, and refused as it says.

A schema-driven client (or fuzzer) must be able to tell from the document that an empty upload is not
a request the engine takes: the `image` part carries `minLength: 1`, and the route answers 422 naming it.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from engine.api.app import create_app

from .helpers import fake_runtime


def test_the_document_says_the_image_may_not_be_empty_and_the_route_agrees(tmp_path) -> None:
    with TestClient(create_app(fake_runtime(tmp_path))) as client:
        doc = client.get("/openapi.json").json()
        body = doc["paths"]["/v1/search/image"]["post"]["requestBody"]
        name = body["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
        image = doc["components"]["schemas"][name]["properties"]["image"]
        assert image["type"] == "string" and image["minLength"] == 1
        assert "422" in doc["paths"]["/v1/search/image"]["post"]["responses"]
        empty = client.post("/v1/search/image", files={"image": ("x.png", b"", "image/png")})
    assert empty.status_code == 422
    assert empty.json()["error"] == {"code": "invalid_input", "message": "image: the file is empty", "retryable": False}
