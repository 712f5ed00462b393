"""Running a route's model work on the queue: plain JSON, or server-sent events when asked.

The request waits for its job without blocking the event loop. A timeout or a client that goes
away sets the job's cancel event (generation stops between steps) and drops it if it has not
started yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from engine.config import EngineSettings
from engine.contract import SSE_MEDIA_TYPE, ErrorDetail, ResultEvent, StreamError
from engine.models.base import GenerationCancelled
from engine.pipelines.results import InvalidInput
from engine.runtime import NotReady

from .errors import ApiError, draining_error
from .metrics import timed
from .queue import Job, JobDropped, QueueClosed, QueueFull, WorkQueue, mark_retrieved
from .sse import SSE_HEADERS, format_event, wants_event_stream

logger = logging.getLogger(__name__)

T = TypeVar("T")
KEEPALIVE_S = 5.0  # an SSE comment while waiting, so proxies keep the stream open


async def answer(
    request: Request, work: Callable[[Job], T], present: Callable[[T], BaseModel]
) -> BaseModel | StreamingResponse:
    """Run `work` on the model queue; answer `present(result)` as JSON or as an event stream."""
    queue: WorkQueue = request.app.state.work_queue
    settings = request.app.state.runtime.settings
    try:
        job = queue.submit(timed(request.app, work))  # stage timings go to /metrics
    except QueueFull as exc:
        raise ApiError(
            429, "busy", f"the engine is busy: {exc}; retry in {settings.retry_after_s} s",
            {"Retry-After": str(settings.retry_after_s)},
        ) from None
    except QueueClosed:
        raise draining_error(settings.retry_after_s) from None
    if wants_event_stream(request):
        events = _stream(job, queue, settings, present)
        return StreamingResponse(events, media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS)
    return present(await _wait(request, job, queue, settings))


def as_api_error(exc: BaseException, retry_after_s: int) -> ApiError:
    """The HTTP answer for an exception raised by model work (`retry_after_s`: MIRAGE_RETRY_AFTER_S).

    503 only while a retry can help (still loading, draining); a component that failed to load or
    is switched off is 501: this engine cannot do that, and asking again will not change it.
    """
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, InvalidInput):
        return ApiError(422, "invalid_input", str(exc))
    if isinstance(exc, NotReady):
        if getattr(exc, "retryable", True):
            return ApiError(503, "not_ready", str(exc), {"Retry-After": str(retry_after_s)})
        return ApiError(501, "unavailable", str(exc))
    if isinstance(exc, JobDropped):
        return draining_error(retry_after_s)
    if isinstance(exc, GenerationCancelled | asyncio.CancelledError):
        return ApiError(
            503, "cancelled", "the request was cancelled; retry shortly", {"Retry-After": str(retry_after_s)}
        )
    logger.error("model work failed", exc_info=exc)
    return ApiError(500, "internal", f"model work failed ({type(exc).__name__}); see the engine log")


async def _wait(request: Request, job: Job, queue: WorkQueue, settings: EngineSettings) -> Any:
    timeout = settings.request_timeout_s
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        done, _ = await asyncio.wait({job.future, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if job.future in done:
        try:
            return job.future.result()
        except BaseException as exc:
            raise as_api_error(exc, settings.retry_after_s) from None
    _abandon(job, queue)
    if gone in done:
        logger.info("client went away; cancelled its model work")
        raise ApiError(499, "client_closed_request", "the client closed the connection")
    raise _timeout_error(timeout)


async def _stream(
    job: Job, queue: WorkQueue, settings: EngineSettings, present: Callable[[Any], BaseModel]
) -> AsyncIterator[bytes]:
    timeout = settings.request_timeout_s
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while not job.future.done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                yield _error_event(_timeout_error(timeout))
                return
            next_event = asyncio.ensure_future(job.events.get())
            done, _ = await asyncio.wait(
                {next_event, job.future}, timeout=min(remaining, KEEPALIVE_S), return_when=asyncio.FIRST_COMPLETED
            )
            if next_event in done:
                yield format_event(next_event.result())
            else:
                next_event.cancel()
                if not done:
                    yield b": keep-alive\n\n"
        # every event emitted before the result is already queued: send them first, in order
        while not job.events.empty():
            yield format_event(job.events.get_nowait())
        try:
            body = present(job.future.result()).model_dump(mode="json")
        except BaseException as exc:
            yield _error_event(as_api_error(exc, settings.retry_after_s))
            return
        yield format_event(ResultEvent(body=body))
    finally:
        # the client went away (the generator is closed) or we are done: stop unfinished work
        if not job.future.done():
            _abandon(job, queue)
            logger.info("event stream closed early; cancelled its model work")


def _timeout_error(timeout: float) -> ApiError:
    return ApiError(504, "timeout", f"no answer within {timeout:g} s (MIRAGE_REQUEST_TIMEOUT_S)")


def _error_event(error: ApiError) -> bytes:
    detail = ErrorDetail(code=error.code, message=error.message, retryable=error.retryable)
    return format_event(StreamError(error=detail, status=error.status))


def _abandon(job: Job, queue: WorkQueue) -> None:
    queue.discard(job)  # sets the cancel event; drops the job if it has not started
    job.future.add_done_callback(mark_retrieved)


async def _client_gone(request: Request) -> None:
    # The body has been read, so the next ASGI message is the disconnect (servers send it when the
    # connection closes; test clients when the response is complete).
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
