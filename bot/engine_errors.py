"""What goes wrong between the bot and the engine, as one exception with a message fit for a user.

The engine's error body (`{"error": {code, message, retryable}}`), a stream's `error` event, an answer
that does not parse and a broken connection each become an `EngineError`; `retryable` says whether the
client's backoff may try again.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from engine.contract import ErrorBody, StreamError

log = logging.getLogger(__name__)

# Only for answers without the engine's error body (e.g. a proxy in front of it): busy or unavailable.
RETRYABLE_STATUS = frozenset({429, 503})
ModelT = TypeVar("ModelT", bound=BaseModel)


class EngineError(Exception):
    """The engine could not answer; `message` is fit to show a user, `code` says why."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.retry_after = retry_after
        self.retryable = retryable
        self.attempts = 1


def json_body(response: httpx.Response) -> Any:
    """The answer's JSON body; EngineError when it is not JSON."""
    try:
        return response.json()
    except ValueError as error:
        log.error("engine answered %s with a body that is not JSON", response.request.url.path)
        raise EngineError("The engine's answer was not in the format I expect.", code="bad_answer") from error


def parse(model: type[ModelT], data: Any) -> ModelT:
    """`data` as `model`; EngineError when it does not match."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        log.error("engine answer does not match %s: %s", model.__name__, error)
        raise EngineError("The engine's answer was not in the format I expect.", code="bad_answer") from error


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds, or None (absent, or an HTTP date)."""
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def status_error(response: httpx.Response) -> EngineError:
    """The EngineError for an HTTP error answer: the engine's own body, else judged by status."""
    status = response.status_code
    try:
        detail = ErrorBody.model_validate(response.json()).error
        code, message, retryable = detail.code, detail.message, detail.retryable
    except (ValueError, ValidationError):  # not the engine's error shape: judge by the status alone
        code, message = f"http_{status}", f"The engine answered HTTP {status}."
        retryable = status in RETRYABLE_STATUS
    if status == 504:
        code = "timeout"
    return EngineError(
        message, code=code, status=status, retry_after=retry_after(response), retryable=retryable
    )


def stream_error(event: StreamError) -> EngineError:
    """The EngineError for an `error` event of a stream."""
    code = "timeout" if event.status == 504 else event.error.code
    return EngineError(event.error.message, code=code, status=event.status, retryable=event.error.retryable)


def transport_error(error: httpx.HTTPError) -> EngineError:
    """The EngineError for a failed connection: unreachable (retryable), timeout or broken."""
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return EngineError("The engine is not reachable.", code="unreachable", retryable=True)
    if isinstance(error, httpx.TimeoutException):
        return EngineError("The engine took too long to answer.", code="timeout")
    return EngineError("The connection to the engine broke.", code="connection_lost")
