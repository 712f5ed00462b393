"""What the /v1 routers share: the runtime, and the error and event-stream documentation.

Every status a route can answer is listed on it (with the error schema), so that a client generated
from the OpenAPI document meets no answer it could not have predicted.
"""

from __future__ import annotations

from typing import Any

from fastapi import Path, Request

from engine.contract import ATLAS_ID_PATTERN, SSE_MEDIA_TYPE, ErrorBody
from engine.runtime import EngineRuntime

_ERRORS = {
    400: "The body could not be parsed (not JSON, or a broken form).",
    401: "Missing or wrong bearer token (checked before the body is read).",
    404: "No atlas image with that id; the message names it.",
    408: "The body did not arrive within MIRAGE_BODY_TIMEOUT_S; retryable.",
    409: "The request is valid but the atlas as it is cannot answer it (e.g. too few usable quiz items for "
         "this modality, topic, concept or set); the message says how many there are. Not retryable as sent.",
    413: "The body (or image) is larger than the route accepts; the message names the limit.",
    422: "Invalid input; the message names the field and the limit.",
    429: "The model queue is full; see Retry-After. Retryable.",
    501: "A model this route needs failed to load or is switched off; asking again will not help.",
    503: "Still loading, or draining (shutting down); see Retry-After. Retryable.",
    504: "No answer within MIRAGE_REQUEST_TIMEOUT_S; not retryable (the work would take as long again).",
}
# what the request guard can answer on any /v1 route, before the route runs
GUARD_STATUSES = (401, 408, 413)
# what a route whose work goes through the model queue can answer
QUEUED_STATUSES = (400, 422, 429, 501, 503, 504)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries with the error schema for each of `statuses`."""
    return {status: {"model": ErrorBody, "description": _ERRORS[status]} for status in statuses}


AtlasIdPath = Path(
    min_length=1, max_length=64, pattern=ATLAS_ID_PATTERN, description="Atlas id, e.g. ROCO_00020."
)

EVENT_STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            SSE_MEDIA_TYPE: {
                "schema": {"type": "string"},
                "example": 'event: queued\ndata: {"position":0}\n\nevent: result\ndata: {...}\n\n',
            }
        },
        "description": "JSON, or with `Accept: text/event-stream` a stream of `queued`, `progress`, "
        "`result` / `error` events (see engine/contract.py).",
    }
}


def runtime_of(request: Request) -> EngineRuntime:
    """The engine runtime behind this app."""
    return request.app.state.runtime
