"""The engine's HTTP API as seen by the bot: typed calls, retries, live events.

Errors the engine marks `retryable` (busy, loading) and an unreachable engine are retried with
exponential backoff that honours `Retry-After`; everything else becomes an `EngineError` carrying the
engine's own message at once. Server-sent events are read with `httpx-sse` into the contract's models;
the LLM's words (`token` events of ask and search) reach `on_text` as the whole text written so far, so
an attempt that is retried starts its text again instead of doubling it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from httpx_sse import EventSource
from pydantic import BaseModel

from engine.contract import (
    SSE_MEDIA_TYPE,
    AskRequest,
    AskResponse,
    CompareRequest,
    CompareResponse,
    GenerateRequest,
    GenerateResponse,
    Hit,
    ImageSearchResponse,
    ProgressEvent,
    QueuedEvent,
    QuizRequest,
    QuizResponse,
    ResultEvent,
    SearchRequest,
    SearchResponse,
    SimilarRequest,
    SimilarResponse,
    StreamError,
    TokenEvent,
    parse_sse_event,
)

from .config import BotSettings
from .engine_errors import EngineError, json_body, parse, status_error, stream_error, transport_error
from .metrics import METRICS

log = logging.getLogger(__name__)

KEEPALIVE_CONNECTIONS = 64  # idle connections to the engine kept open for reuse
QueuedHook = Callable[[int], Awaitable[None]]
ProgressHook = Callable[[int, int], Awaitable[None]]
TextHook = Callable[[str], Awaitable[None]]  # the LLM's text so far (unchecked), after each token event
ModelT = TypeVar("ModelT", bound=BaseModel)
__all__ = ["EngineClient", "EngineError", "make_http_client"]


def make_http_client(settings: BotSettings) -> httpx.AsyncClient:
    """The one shared HTTP client: engine base URL, bearer token, timeouts."""
    headers = {"User-Agent": "mirage-bot"}
    if settings.engine_token is not None:
        headers["Authorization"] = f"Bearer {settings.engine_token.get_secret_value()}"
    timeout = httpx.Timeout(settings.engine_timeout_s, connect=settings.engine_connect_timeout_s)
    # No cap on open connections here: how many jobs talk to the engine at once is the job queue's to
    # decide, and it follows the engine's advertised capacity (bot/capacity.py), which can grow after this
    # client exists; a pool sized from the start-up setting would make jobs the engine could take wait for
    # a connection (each running job fetches up to 11 images at once, quizzes and reviews fetch more).
    # Idle connections kept for reuse stay bounded.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=KEEPALIVE_CONNECTIONS)
    return httpx.AsyncClient(base_url=settings.engine_url, headers=headers, timeout=timeout, limits=limits)


class EngineClient:
    """Typed calls to the engine over a shared `httpx.AsyncClient`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        retries: int = 3,
        retry_base_s: float = 1.0,
        retry_max_s: float = 30.0,
    ) -> None:
        self.http = http
        self.retries = retries
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s

    @classmethod
    def from_settings(cls, http: httpx.AsyncClient, settings: BotSettings) -> EngineClient:
        """An engine client with the retry policy from the settings."""
        return cls(
            http,
            retries=settings.engine_retries,
            retry_base_s=settings.engine_retry_base_s,
            retry_max_s=settings.engine_retry_max_s,
        )

    # --- routes ---------------------------------------------------------------------------
    async def search(
        self, request: SearchRequest, *, on_queued: QueuedHook | None = None, on_text: TextHook | None = None
    ) -> SearchResponse:
        """Text search with enrichment; engine queue places go to `on_queued`, the explanation as it is
        written to `on_text`."""
        data = await self._retrying(
            lambda: self._stream("/v1/search", request.model_dump(exclude_none=True), on_queued, None, on_text)
        )
        return parse(SearchResponse, data)

    async def search_image(self, image: bytes, *, k: int, filename: str = "query.png") -> ImageSearchResponse:
        """Search the atlas by an image's CLIP embedding."""

        async def attempt() -> Any:
            response = await self._send(
                "POST", "/v1/search/image", files={"image": (filename, image)}, data={"k": str(k)}
            )
            return json_body(response)

        return parse(ImageSearchResponse, await self._retrying(attempt))

    async def compare(self, request: CompareRequest) -> CompareResponse:
        """Vector arithmetic: query − subtract + add."""
        return await self._call(CompareResponse, "POST", "/v1/compare", request)

    async def generate(
        self,
        request: GenerateRequest,
        *,
        on_queued: QueuedHook | None = None,
        on_progress: ProgressHook | None = None,
    ) -> GenerateResponse:
        """A synthetic image; diffusion steps go to `on_progress(step, total)`."""
        payload = request.model_dump(exclude_none=True)
        data = await self._retrying(lambda: self._stream("/v1/generate", payload, on_queued, on_progress))
        return parse(GenerateResponse, data)

    async def quiz(self, request: QuizRequest) -> QuizResponse:
        """One quiz question: an atlas image, its choices, the right one and the hint ladder."""
        return await self._call(QuizResponse, "POST", "/v1/quiz", request)

    async def atlas_item(self, atlas_id: str) -> Hit:
        """One atlas image's caption, modality and source."""
        return await self._call(Hit, "GET", f"/v1/atlas/{quote(atlas_id, safe='')}")

    async def ask(
        self, request: AskRequest, *, on_queued: QueuedHook | None = None, on_text: TextHook | None = None
    ) -> AskResponse:
        """A grounded answer to a question on the given atlas images (and the thread's earlier turns), with
        its checked citations; the answer as it is written goes to `on_text`."""
        payload = request.model_dump(exclude_none=True)
        if not payload.get("history"):
            payload.pop("history", None)  # a first question: the body an engine before history knew
        data = await self._retrying(lambda: self._stream("/v1/ask", payload, on_queued, None, on_text))
        return parse(AskResponse, data)

    async def similar(self, atlas_id: str, *, k: int, modality: str | None = None) -> SimilarResponse:
        """The atlas images nearest to atlas image `atlas_id`, searched with its stored vector."""
        request = SimilarRequest.model_validate({"k": k, "modality": modality})  # modality checked against the contract here
        return await self._call(SimilarResponse, "POST", f"/v1/search/similar/{quote(atlas_id, safe='')}", request)

    async def atlas_image(self, atlas_id: str) -> bytes:
        """The bytes of one atlas image."""
        return await self.fetch_image(f"/v1/atlas/{quote(atlas_id, safe='')}/image")

    async def fetch_image(self, image_url: str) -> bytes:
        """Image bytes from an engine `image_url` (relative, or absolute on the engine's own origin)."""
        if not self._is_engine_url(image_url):
            raise EngineError(
                "The engine pointed at an image on another server; I only fetch images from the engine.",
                code="foreign_image_url",
            )

        async def attempt() -> bytes:
            return (await self._send("GET", image_url)).content

        return await self._retrying(attempt)

    # --- plumbing -------------------------------------------------------------------------
    def _is_engine_url(self, url: str) -> bool:
        parts = urlsplit(url)
        if not parts.scheme and not parts.netloc:
            return True
        base = self.http.base_url
        return parts.scheme == base.scheme and parts.netloc == base.netloc.decode()

    async def _retrying(self, attempt: Callable[[], Awaitable[Any]]) -> Any:
        for n in range(self.retries + 1):
            try:
                return await attempt()
            except EngineError as error:
                error.attempts = n + 1
                if not error.retryable or n == self.retries:
                    raise
                delay = min(self.retry_base_s * 2**n, self.retry_max_s)
                if error.retry_after is not None:
                    if error.retry_after > self.retry_max_s:
                        raise  # the engine asks for longer than we are willing to make the user wait
                    delay = max(delay, error.retry_after)
                log.warning(
                    "engine %s (%s); retry %d/%d in %.2fs", error.code, error, n + 1, self.retries, delay
                )
                METRICS.retried(error.code)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call(self, model: type[ModelT], method: str, path: str, body: BaseModel | None = None) -> ModelT:
        """One plain JSON call (body without its unset fields), retried; the answer read as `model`."""
        payload = body.model_dump(exclude_none=True) if body is not None else None

        async def attempt() -> Any:
            return json_body(await self._send(method, path, json=payload))

        return parse(model, await self._retrying(attempt))

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise transport_error(error) from error
        if response.status_code >= 400:
            raise status_error(response)
        return response

    async def _stream(
        self,
        url: str,
        payload: dict[str, Any],
        on_queued: QueuedHook | None,
        on_progress: ProgressHook | None,
        on_text: TextHook | None = None,
    ) -> Any:
        headers = {"Accept": SSE_MEDIA_TYPE}
        written = ""  # this attempt's text so far
        try:
            async with self.http.stream("POST", url, json=payload, headers=headers) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise status_error(response)
                if not response.headers.get("content-type", "").startswith(SSE_MEDIA_TYPE):
                    await response.aread()
                    return json_body(response)  # an engine without streaming answers plain JSON
                async for sse in EventSource(response).aiter_sse():
                    event = parse_sse_event(sse.event, sse.data)  # None: an event this contract does not know
                    if isinstance(event, QueuedEvent) and on_queued is not None:
                        await on_queued(event.position)
                    elif isinstance(event, ProgressEvent) and on_progress is not None:
                        await on_progress(event.step, event.total)
                    elif isinstance(event, TokenEvent) and on_text is not None:
                        written += event.text
                        await on_text(written)
                    elif isinstance(event, ResultEvent):
                        return event.body
                    elif isinstance(event, StreamError):
                        raise stream_error(event)
        except httpx.HTTPError as error:
            raise transport_error(error) from error
        except ValueError as error:  # pydantic's ValidationError and JSON errors are ValueErrors
            raise EngineError("The engine sent an event I could not read.", code="bad_event") from error
        raise EngineError("The engine closed the connection before answering.", code="stream_ended")
