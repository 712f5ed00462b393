"""Discord's REST rate limits, as the stand-in enforces them: one global limit per bot and per-route
buckets keyed by their top-level resource (the channel), with the `X-RateLimit-*` headers discord.py
reads to pace itself before it is refused.

Values (one table; Discord says limits "should not be hard coded" and may change, so these are the
documented or long-observed figures, not a promise):

| limit | value | scope | source |
| --- | --- | --- | --- |
| global | 50 requests / 1 s | the bot token, all routes but interaction endpoints | [docs: Global Rate Limit][rl] ("All bots can make up to 50 requests per second") |
| interaction callbacks and their webhooks | exempt from the global limit | the interaction token | [docs: Global Rate Limit][rl] ("Interaction endpoints are not bound to the bot's Global Rate Limit") |
| message create `POST /channels/{id}/messages` | 5 / 5 s | per channel (top-level resource) | [docs: per-route limits keyed by channel_id][rl]; value: the long-standing 5/5 s per channel (javacord's table of Discord's limits) |
| message edit `PATCH /channels/{id}/messages/{id}` | 5 / 5 s | per channel | as above (edits share the channel's message bucket size) |

[rl]: https://discord.com/developers/docs/topics/rate-limits

A 429 carries `retry_after` and `global` in its JSON body and `Retry-After`, `X-RateLimit-Scope`
(`global` or `user`) and, for the global limit, `X-RateLimit-Global: true`; every answer on a limited
route carries `X-RateLimit-Limit`, `-Remaining`, `-Reset`, `-Reset-After` and `-Bucket`, which is what
discord.py uses to wait before the bucket is empty. Not modelled: limits of other routes (thread
creation has no documented value), Cloudflare's invalid-request ban.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

GLOBAL_LIMIT = 50
GLOBAL_WINDOW_S = 1.0
# Interaction endpoints (the callback, and the follow-up/original-response webhooks of its token).
EXEMPT_PREFIXES = ("/interactions/", "/webhooks/")


@dataclass(frozen=True)
class RouteLimit:
    """A per-route bucket: `limit` requests per `window_s` for each value of the route's channel."""

    name: str
    method: str
    pattern: str  # the path with {channel_id} (the top-level resource) and other {placeholders}
    limit: int
    window_s: float

    def channel_of(self, method: str, path: str) -> str | None:
        """The channel id this request counts against, or None when the route is another one."""
        if method != self.method:
            return None
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern) + "$"
        match = re.match(regex, path)
        return match.group("channel_id") if match else None


ROUTE_LIMITS = (
    RouteLimit("message-create", "POST", "/channels/{channel_id}/messages", 5, 5.0),
    RouteLimit("message-edit", "PATCH", "/channels/{channel_id}/messages/{message_id}", 5, 5.0),
)


@dataclass
class _Window:
    started: float
    used: int = 0


@dataclass
class Verdict:
    """What the limiter says about one request: allowed (with headers to send) or refused with a 429."""

    allowed: bool
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float = 0.0
    is_global: bool = False


class DiscordLimits:
    """Counts requests per bot (global) and per (route, channel) in fixed windows, as Discord does."""

    def __init__(
        self,
        *,
        global_limit: int = GLOBAL_LIMIT,
        routes: tuple[RouteLimit, ...] = ROUTE_LIMITS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.global_limit = global_limit
        self.routes = routes
        self._clock = clock
        self._global: _Window | None = None
        self._buckets: dict[tuple[str, str], _Window] = {}
        self.refused_global = 0
        self.refused_route = 0

    def check(self, method: str, path: str) -> Verdict:
        """Count the request and say whether it may go through."""
        now = self._clock()
        if path.startswith(EXEMPT_PREFIXES):
            return Verdict(True)
        # 1. the global limit
        window = self._global
        if window is None or now - window.started >= GLOBAL_WINDOW_S:
            window = self._global = _Window(now)
        if window.used >= self.global_limit:
            self.refused_global += 1
            return self._refusal(window.started + GLOBAL_WINDOW_S - now, is_global=True)
        # 2. the route's bucket for this channel
        for route in self.routes:
            channel = route.channel_of(method, path)
            if channel is None:
                continue
            bucket = self._buckets.get((route.name, channel))
            if bucket is None or now - bucket.started >= route.window_s:
                bucket = self._buckets[(route.name, channel)] = _Window(now)
            reset_after = bucket.started + route.window_s - now
            if bucket.used >= route.limit:
                self.refused_route += 1
                return self._refusal(reset_after, bucket=route, remaining=0)
            bucket.used += 1
            window.used += 1
            return Verdict(True, _bucket_headers(route, route.limit - bucket.used, reset_after))
        window.used += 1
        return Verdict(True)

    @staticmethod
    def _refusal(
        retry_after: float, *, is_global: bool = False, bucket: RouteLimit | None = None, remaining: int = 0
    ) -> Verdict:
        retry_after = max(retry_after, 0.001)
        headers = {"Retry-After": str(math.ceil(retry_after)), "X-RateLimit-Scope": "global" if is_global else "user"}
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        if bucket is not None:
            headers.update(_bucket_headers(bucket, remaining, retry_after))
        return Verdict(False, headers, retry_after, is_global)


def _bucket_headers(route: RouteLimit, remaining: int, reset_after: float) -> dict[str, str]:
    reset_after = max(reset_after, 0.0)
    return {
        "X-RateLimit-Limit": str(route.limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": f"standin-{route.name}",
    }


def refusal_body(verdict: Verdict) -> dict[str, Any]:
    """Discord's JSON body of a 429."""
    body: dict[str, Any] = {
        "message": "You are being rate limited.",
        "retry_after": round(verdict.retry_after, 3),
        "global": verdict.is_global,
    }
    if not verdict.is_global:
        body["code"] = 0
    return body
