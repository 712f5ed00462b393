"""Server-sent events: the wire format of the event models at the end of engine/contract.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import Request

from engine.contract import SSE_MEDIA_TYPE, ResultEvent, SseEvent, TokenEvent

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def wants_event_stream(request: Request) -> bool:
    """True when the caller asked for `Accept: text/event-stream`."""
    return SSE_MEDIA_TYPE in request.headers.get("accept", "")


def token_hook(request: Request, job: Any) -> Callable[[str], None] | None:
    """For a request that asked for an event stream, an `on_text` that sends the LLM's new words as
    `event: token` on `job`'s stream (from the generating thread); None for a plain JSON answer."""
    if not wants_event_stream(request):
        return None
    return lambda text: job.emit(TokenEvent(text=text))


def format_event(event: SseEvent) -> bytes:
    """One event: `event: <its name>` and a one-line JSON `data:`, then a blank line."""
    data = event.body if isinstance(event, ResultEvent) else event.model_dump(mode="json")
    return f"event: {event.event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def split_events(text: str) -> list[tuple[str, str]]:
    """(event name, data text) pairs from a stream's text, comments skipped; feed them to
    engine.contract.parse_sse_event."""
    events = []
    for block in text.split("\n\n"):
        name, data = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            events.append((name, "\n".join(data)))
    return events


def parse_events(text: str) -> list[tuple[str, Any]]:
    """(event, decoded JSON data) pairs from a stream's text; for tests."""
    return [(name, json.loads(data)) for name, data in split_events(text)]
