"""The gate in front of every route (pure ASGI): nothing is buffered for a client that may not be served.

For each HTTP request, before any route code runs:
1. /v1 routes: the bearer token is checked from the headers alone; a missing or wrong token is
   answered 401 without reading a byte of the body.
2. A declared `Content-Length` above the route's limit is answered 413 at once.
3. The body is counted as it arrives (chunked bodies declare no length): past the route's limit the
   read fails with 413, so at most limit + one chunk is ever held for a request.
4. The whole body must arrive within `body_timeout_s` of the request's start; a client dripping it
   slower is answered 408 (retryable: the same request sent at a normal pace succeeds), so a slow
   client cannot hold memory or a worker indefinitely.
While the engine drains (engine/api/drain.py), new /v1 requests are answered 503 with Retry-After
right after the token check (GET /v1/status still answers, for the operator).
An answer sent while the request's body is still unread carries `Connection: close`: the server then
drops the connection instead of reading (and discarding) whatever the client keeps sending.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.contract import IMAGE_MAX_BYTES

from .errors import ApiError, draining_error, error_response

JSON_MAX_BYTES = 1 * 2**20
# multipart framing and the small form fields around the image
MULTIPART_SLACK_BYTES = 64 * 2**10
IMAGE_ROUTES = ("/v1/search/image",)
PROTECTED_PREFIX = "/v1"
CHALLENGE = {"WWW-Authenticate": "Bearer"}
SERVED_WHILE_DRAINING = ("/v1/status",)
# the 413 message for an image over IMAGE_MAX_BYTES, from the guard or from the route reading it
IMAGE_TOO_LARGE = f"image: at most {IMAGE_MAX_BYTES} bytes ({IMAGE_MAX_BYTES // 2**20} MiB)"


def body_limit(path: str) -> tuple[int, str]:
    """(bytes a request to `path` may send, the message naming that limit)."""
    if path in IMAGE_ROUTES:
        return IMAGE_MAX_BYTES + MULTIPART_SLACK_BYTES, IMAGE_TOO_LARGE
    return JSON_MAX_BYTES, f"request body: at most {JSON_MAX_BYTES} bytes ({JSON_MAX_BYTES // 2**20} MiB)"


def is_protected(path: str) -> bool:
    """True for the routes that need the bearer token (everything under /v1)."""
    return path == PROTECTED_PREFIX or path.startswith(PROTECTED_PREFIX + "/")


def token_error(authorization: str | None, expected: str | None) -> ApiError | None:
    """The 401 for this Authorization header, or None when it carries `expected` (or none is needed)."""
    if expected is None:
        return None
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return ApiError(401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)", CHALLENGE)
    # constant time: the comparison must not reveal how much of a guess was right
    if not hmac.compare_digest(credentials.strip().encode(), expected.encode()):
        return ApiError(401, "unauthorized", "invalid bearer token", CHALLENGE)
    return None


class RequestGuard:
    """Token first, then a counted, time-limited body (see the module doc)."""

    def __init__(
        self, app: ASGIApp, *, token: str | None, body_timeout_s: float,
        accepting: Callable[[], bool] = lambda: True, retry_after_s: int,
    ) -> None:
        self.app = app
        self.token = token
        self.body_timeout_s = body_timeout_s
        self.accepting, self.retry_after_s = accepting, retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit, limit_message = body_limit(scope["path"])
        body = _CountedBody(receive, headers, limit, limit_message, self.body_timeout_s)
        send = body.closing_send(send)

        # 1. the token, from the headers alone
        if is_protected(scope["path"]):
            error = token_error(headers.get("authorization"), self.token)
            if error is None and not self.accepting() and scope["path"] not in SERVED_WHILE_DRAINING:
                error = draining_error(self.retry_after_s)
            if error is not None:
                await error_response(error)(scope, body.receive, send)
                return
        # 2. a declared length above the limit
        if body.declared is not None and body.declared > limit:
            await error_response(ApiError(413, "too_large", limit_message))(scope, body.receive, send)
            return
        # 3. and 4. happen while the route reads the body (an ApiError raised from `receive`)
        try:
            await self.app(scope, body.receive, send)
        except ApiError as error:  # raised while reading outside a route's error handling
            if body.response_started:
                raise
            await error_response(error)(scope, body.receive, send)


class _CountedBody:
    """`receive` with a byte count, a deadline, and a record of whether the body was read to its end."""

    def __init__(
        self, receive: Receive, headers: Headers, limit: int, limit_message: str, timeout_s: float
    ) -> None:
        self._receive = receive
        self.limit, self.limit_message, self.timeout_s = limit, limit_message, timeout_s
        length = headers.get("content-length")
        self.declared = int(length) if length is not None and length.isdigit() else None
        # no length and no chunked encoding: HTTP/1.1 says the body is empty
        self.complete = self.declared in (None, 0) and "transfer-encoding" not in headers
        self.received = 0
        self.response_started = False
        self._deadline = asyncio.get_running_loop().time() + timeout_s

    async def receive(self) -> Message:
        """The next ASGI message; raises ApiError 413 past the limit and 408 past the deadline."""
        if self.complete:
            return await self._receive()
        remaining = self._deadline - asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(max(remaining, 0.0)):
                message = await self._receive()
        except TimeoutError:
            raise ApiError(
                408, "body_timeout",
                f"request body: not received within {self.timeout_s:g} s (MIRAGE_BODY_TIMEOUT_S); send it again",
            ) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise ApiError(413, "too_large", self.limit_message)
            if not message.get("more_body", False):
                self.complete = True
        elif message["type"] == "http.disconnect":
            self.complete = True  # nothing more will come
        return message

    def closing_send(self, send: Send) -> Send:
        """`send` that adds `Connection: close` to an answer given before the body was read to its end."""

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.response_started = True
                if not self.complete:
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        return guarded
