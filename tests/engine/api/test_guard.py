"""The request guard over a real socket: the token before the body, the body counted as it arrives
(chunked bodies declare no length), and a deadline for the whole body."""

from __future__ import annotations

import socket

import httpx
import pytest

from engine.api.app import create_app
from engine.api.guard import JSON_MAX_BYTES
from engine.contract import IMAGE_MAX_BYTES

from .helpers import fake_runtime, serving
from .rawhttp import first_answer_after_headers, post_chunked

TOKEN = "guard-test-token-0123456789"
BODY_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    runtime = fake_runtime(tmp_path_factory.mktemp("engine"), engine_token=TOKEN, body_timeout_s=BODY_TIMEOUT_S)
    with serving(create_app(runtime)) as url:
        yield int(url.rsplit(":", 1)[1])


def test_without_a_token_the_answer_is_401_before_any_body_arrives(port):
    result = first_answer_after_headers(port, "/v1/search", token=None)
    assert result.status == 401, result
    assert result.error() == {
        "code": "unauthorized", "message": "missing bearer token (Authorization: Bearer <token>)", "retryable": False,
    }
    assert result.headers["www-authenticate"] == "Bearer"
    # the body was never read, so the server hangs up instead of reading whatever follows
    assert result.headers["connection"] == "close" and result.closed_by_server


def test_a_wrong_token_is_refused_the_same_way(port):
    result = first_answer_after_headers(port, "/v1/generate", token=TOKEN[:-1])
    assert result.status == 401 and result.error()["message"] == "invalid bearer token"


def test_a_chunked_oversize_body_without_a_token_is_cut_off_at_once(port):
    result = post_chunked(port, "/v1/search", token=None, total=64 * 2**20)
    assert result.status == 401
    assert result.sent < 8 * 2**20, f"sent {result.sent} bytes before being cut off"


def test_a_chunked_oversize_body_with_the_token_is_413_naming_the_limit(port):
    result = post_chunked(port, "/v1/search", token=TOKEN, total=64 * 2**20)
    assert result.status == 413, result
    assert result.error() == {
        "code": "too_large", "message": f"request body: at most {JSON_MAX_BYTES} bytes (1 MiB)", "retryable": False,
    }
    assert result.closed_by_server
    assert result.sent < JSON_MAX_BYTES + 8 * 2**20  # refused soon after the limit, not at the end


def test_a_chunked_image_upload_past_its_limit_is_413_naming_the_image_limit(port):
    part = (b'--b0undary\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n'
            b"Content-Type: image/png\r\n\r\n")
    result = post_chunked(port, "/v1/search/image", token=TOKEN, total=IMAGE_MAX_BYTES + 4 * 2**20,
                          content_type="multipart/form-data; boundary=b0undary", prefix=part)
    assert result.status == 413
    assert result.error()["message"] == f"image: at most {IMAGE_MAX_BYTES} bytes (10 MiB)"


def test_a_declared_length_past_the_limit_is_refused_without_reading(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: 999999999\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(4096):  # until the server hangs up (it never reads the body)
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"request body: at most 1048576 bytes" in answer


def test_a_body_dripped_slower_than_the_deadline_is_408(port):
    result = post_chunked(port, "/v1/search", token=TOKEN, total=10_000, piece=1, drip_s=0.05)
    assert result.status == 408, result
    assert result.error() == {
        "code": "body_timeout", "retryable": True,
        "message": f"request body: not received within {BODY_TIMEOUT_S:g} s (MIRAGE_BODY_TIMEOUT_S); send it again",
    }
    assert BODY_TIMEOUT_S <= result.seconds < BODY_TIMEOUT_S + 5
    assert result.closed_by_server


def test_a_chunked_body_within_the_limits_is_served(port):
    # a normal client streaming its body in chunks is not disturbed by the counting
    body = b'{"query": "pneumothorax", "k": 2, "enrich": false}'
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        response = client.post(
            "/v1/search", content=iter([body[:10], body[10:]]), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["hits"]) == 2
        # the connection stays open for the next request (nothing was left unread)
        assert response.headers.get("connection") != "close"
        assert client.get("/v1/atlas/ROCO_00002").status_code == 200


def test_health_and_readiness_need_no_token(port):
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    assert httpx.get(f"http://127.0.0.1:{port}/v1/status").status_code == 401
