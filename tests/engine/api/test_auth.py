"""Bearer token on every route but health, when the engine has one."""

import pytest
from fastapi.testclient import TestClient

from engine.api.app import create_app

from .helpers import fake_runtime

TOKEN = "s3cr3t-token-for-tests"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(fake_runtime(tmp_path_factory.mktemp("engine"), engine_token=TOKEN))
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/search", {"query": "pneumothorax"}),
        ("post", "/v1/compare", {"query": "a", "subtract": "b", "add": "c"}),
        ("post", "/v1/generate", {"prompt": "p", "steps": 1}),
        ("post", "/v1/embed", {"texts": ["a"]}),
        ("get", "/v1/atlas/ROCO_00001", None),
        ("get", "/v1/atlas/ROCO_00001/image", None),
    ],
)
def test_v1_routes_refuse_a_missing_or_wrong_token(client, method, path, body):
    kwargs = {"json": body} if body else {}
    missing = getattr(client, method)(path, **kwargs)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"] == {
        "code": "unauthorized", "message": "missing bearer token (Authorization: Bearer <token>)",
        "retryable": False,
    }
    wrong = getattr(client, method)(path, headers={"Authorization": "Bearer " + TOKEN[:-1]}, **kwargs)
    assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "invalid bearer token"


def test_the_right_token_is_let_in(client):
    ok = client.post("/v1/search", json={"query": "pneumothorax"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200, ok.text


def test_token_is_checked_before_validation(client):
    assert client.post("/v1/search", json={"query": ""}).status_code == 401


def test_health_needs_no_token(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
