"""Refuse oversized request bodies before reading them (pure ASGI, so streaming is untouched)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from engine.contract import IMAGE_MAX_BYTES

from .errors import ApiError, error_response

JSON_MAX_BYTES = 1 * 2**20
# multipart framing and the small form fields around the image
MULTIPART_SLACK_BYTES = 64 * 2**10
IMAGE_ROUTES = ("/v1/search/image",)


class BodySizeLimit:
    """413 with the limit named when Content-Length is above what the route accepts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and length.isdigit():
                error = _too_large(scope["path"], int(length))
                if error is not None:
                    await error_response(error)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _too_large(path: str, length: int) -> ApiError | None:
    if path in IMAGE_ROUTES:
        if length > IMAGE_MAX_BYTES + MULTIPART_SLACK_BYTES:
            return ApiError(413, "too_large", f"image: at most {IMAGE_MAX_BYTES} bytes ({IMAGE_MAX_BYTES // 2**20} MiB)")
    elif length > JSON_MAX_BYTES:
        return ApiError(413, "too_large", f"request body: at most {JSON_MAX_BYTES} bytes")
    return None
