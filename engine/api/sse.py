"""Server-sent events: the wire format of the streams described at the end of engine/contract.py."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from engine.contract import SSE_MEDIA_TYPE

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def wants_event_stream(request: Request) -> bool:
    """True when the caller asked for `Accept: text/event-stream`."""
    return SSE_MEDIA_TYPE in request.headers.get("accept", "")


def format_event(event: str, data: Any) -> bytes:
    """One event: `event: <name>` and a one-line JSON `data:`, then a blank line."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def parse_events(text: str) -> list[tuple[str, Any]]:
    """(event, data) pairs from a stream's text; for clients and tests."""
    events = []
    for block in text.split("\n\n"):
        name, data = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events
