"""The engine's HTTP app: routers, the bearer token, the error shape and the model-work queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from engine.contract import DISCLAIMER
from engine.pipelines.results import InvalidInput
from engine.runtime import EngineRuntime, NotReady

from .auth import require_token
from .errors import error_response, install_error_handlers
from .limits import BodySizeLimit
from .queue import WorkQueue
from .routes import ask, atlas, compare, embed, generate, health, quiz, search
from .routes.common import ERROR_RESPONSES
from .work import as_api_error

DESCRIPTION = f"""MIRAGE engine: CLIP retrieval over a radiology atlas, LLM explanations and synthetic
images. {DISCLAIMER} Send `Authorization: Bearer <MIRAGE_ENGINE_TOKEN>` on every /v1 route when the
engine has a token. Errors are `{{"error": {{"code", "message"}}}}`."""


def create_app(runtime: EngineRuntime) -> FastAPI:
    """The FastAPI app serving `runtime`; starting it starts loading the models in the background."""
    settings = runtime.settings
    queue = WorkQueue(size=settings.queue_size, workers=settings.gpu_workers)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        queue.start()
        runtime.start()
        yield
        queue.stop()

    app = FastAPI(title="MIRAGE engine", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.work_queue = queue
    app.add_middleware(BodySizeLimit)
    install_error_handlers(app)

    async def _pipeline_error(_: Request, exc: Exception) -> JSONResponse:
        return error_response(as_api_error(exc))

    app.add_exception_handler(NotReady, _pipeline_error)
    app.add_exception_handler(InvalidInput, _pipeline_error)

    app.include_router(health.router)
    for module in (search, compare, generate, embed, atlas, ask, quiz):
        app.include_router(
            module.router, prefix="/v1", dependencies=[Depends(require_token)], responses=ERROR_RESPONSES
        )
    return app
