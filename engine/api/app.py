"""The engine's HTTP app: routers, the bearer token, the error shape and the model-work queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from engine.contract import DISCLAIMER
from engine.pipelines.results import InvalidInput
from engine.runtime import EngineRuntime, NotReady

from .auth import require_token
from .errors import error_response, install_error_handlers
from .guard import RequestGuard
from .metrics import install_metrics
from .queue import WorkQueue
from .routes import ask, atlas, compare, embed, generate, health, quiz, search, similar
from .routes.common import GUARD_STATUSES, error_responses
from .work import as_api_error

DESCRIPTION = f"""MIRAGE engine: CLIP retrieval over a radiology atlas, LLM explanations and synthetic
images. {DISCLAIMER} Send `Authorization: Bearer <MIRAGE_ENGINE_TOKEN>` on every /v1 route when the
engine has a token. Errors are `{{"error": {{"code", "message", "retryable"}}}}`; `retryable` says whether
sending the same request again later can succeed."""

logger = logging.getLogger(__name__)


def create_app(runtime: EngineRuntime) -> FastAPI:
    """The FastAPI app serving `runtime`; starting it starts loading the models in the background."""
    settings = runtime.settings
    queue = WorkQueue(size=settings.queue_size, workers=settings.queue_workers)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        queue.start()
        runtime.start()
        try:
            yield
        finally:
            # joining the workers blocks, so not on the event loop; the store closes only once no
            # worker can touch it any more
            if await asyncio.to_thread(queue.stop):
                await asyncio.to_thread(runtime.close)
            else:
                logger.warning("model work still running at shutdown; the atlas store is left open")

    app = FastAPI(title="MIRAGE engine", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.work_queue = queue
    token = settings.engine_token.get_secret_value() if settings.engine_token else None
    app.add_middleware(
        RequestGuard, token=token, body_timeout_s=settings.body_timeout_s,
        accepting=lambda: queue.accepting, retry_after_s=settings.retry_after_s,
    )
    install_metrics(app)  # GET /metrics; outermost, so it also times what the guard refuses
    install_error_handlers(app)

    async def _pipeline_error(_: Request, exc: Exception) -> JSONResponse:
        return error_response(as_api_error(exc, settings.retry_after_s))

    app.add_exception_handler(NotReady, _pipeline_error)
    app.add_exception_handler(InvalidInput, _pipeline_error)

    app.include_router(health.router)
    protected = (health.status_router, *(m.router for m in (search, similar, compare, generate, embed, atlas, ask, quiz)))
    for router in protected:
        app.include_router(
            router, prefix="/v1", dependencies=[Depends(require_token)], responses=error_responses(*GUARD_STATUSES)
        )
    return app
