"""Discord's refusals, on demand: 429 rate limits on a route, 413 over the upload limit."""

from __future__ import annotations

import fnmatch
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .records import UploadedFile

VIA = {"Via": "1.1 google"}  # discord.py treats a 429 without Via as a Cloudflare ban


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with Content-Type exactly 'application/json' (discord.py compares the header verbatim)."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


@dataclass
class RateLimitRule:
    """Answer the next `times` requests matching `pattern` ('POST /channels/*/messages') with a 429."""

    pattern: str
    retry_after: float
    times: int = 1
    is_global: bool = False
    bucket: str = "standin-bucket"
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to the request ('METHOD /path' against the glob pattern)."""
        return self.hits < self.times and fnmatch.fnmatchcase(f"{method} {path}", self.pattern)


def rate_limited_response(rule: RateLimitRule) -> web.Response:
    """Discord's 429: JSON body with retry_after/global and the X-RateLimit-* headers (and Via, as behind its proxy)."""
    body: dict[str, Any] = {
        "message": "You are being rate limited.",
        "retry_after": rule.retry_after,
        "global": rule.is_global,
    }
    if not rule.is_global:
        body["code"] = 0
    headers = {
        "Retry-After": str(math.ceil(rule.retry_after)),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + rule.retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{rule.retry_after:.3f}",
        "X-RateLimit-Bucket": rule.bucket,
        "X-RateLimit-Scope": "global" if rule.is_global else "user",
        **VIA,
    }
    if rule.is_global:
        headers["X-RateLimit-Global"] = "true"
    return json_response(body, 429, headers)


def over_upload_limit(files: list[UploadedFile], limit: int | None, scope: str) -> bool:
    """Whether these files break the limit: any one file ('file' scope) or their sum ('request' scope)."""
    if limit is None or not files:
        return False
    if scope == "request":
        return sum(f.size for f in files) > limit
    return any(f.size > limit for f in files)


def entity_too_large_response() -> web.Response:
    """Discord's 413 for oversized uploads (JSON error code 40005)."""
    return json_response({"code": 40005, "message": "Request entity too large"}, 413, VIA)


def error_response(
    status: int, code: int, message: str, errors: dict[str, Any] | None = None
) -> web.Response:
    """A Discord JSON error body."""
    body: dict[str, Any] = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    return json_response(body, status, VIA)
