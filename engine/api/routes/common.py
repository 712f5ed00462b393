"""What the /v1 routers share: the runtime, and the error and event-stream documentation."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from engine.contract import SSE_MEDIA_TYPE, ErrorBody
from engine.runtime import EngineRuntime

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token."},
    422: {"model": ErrorBody, "description": "Invalid input; the message names the field and the limit."},
    429: {"model": ErrorBody, "description": "The model queue is full; see Retry-After."},
    503: {"model": ErrorBody, "description": "A model or the atlas is not loaded; the message says which."},
    504: {"model": ErrorBody, "description": "No answer within MIRAGE_REQUEST_TIMEOUT_S."},
}

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
