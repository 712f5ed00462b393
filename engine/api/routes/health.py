"""Liveness and readiness (no token needed), and the operator's detailed status (token needed).

The public /readyz says only what is loaded, loading, failed or disabled: no exception text, no
paths. Why something failed goes to the log and to GET /v1/status. Neither touches the store: a
readiness probe must answer at once even when the store is slow (runtime.readiness never blocks).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from engine.contract import NotReadyResponse, ReadyResponse

from ..errors import error_body

router = APIRouter(tags=["health"])
status_router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Always 200 while the process runs (draining included)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    summary="Readiness: models loaded, an atlas with images, and taking work",
    responses={
        503: {"model": NotReadyResponse, "description": "Still loading, no atlas yet (run `engine index`), an "
              "atlas of 0 images, unable to serve, or draining; the body says which component is missing (its "
              "status word only: details are in GET /v1/status) and each route family's state in `routes`."}
    },
)
async def readyz(request: Request) -> JSONResponse:
    """200 once the engine can answer and takes work; else 503 with what is missing (and the error shape)."""
    return _readiness(request, private=False)


@status_router.get("/status", response_model=ReadyResponse, summary="Readiness with the reasons (errors, paths)")
async def status(request: Request) -> JSONResponse:
    """As /readyz, with each component's detail: what was loaded from where, and why a load failed."""
    return _readiness(request, private=True)


def _readiness(request: Request, *, private: bool) -> JSONResponse:
    # the operator's private status always answers 200 (it is a report, not a probe); /readyz says 503
    ready = request.app.state.runtime.readiness(private=private)
    queue = request.app.state.work_queue
    ready.capacity = queue.workers
    draining = not queue.accepting
    if draining:
        ready.ready = False
    body = ready.model_dump()
    if ready.ready or private:
        return JSONResponse(body)
    if draining:
        message = "not ready: the engine is draining (shutting down); use another engine"
    elif ready.missing:
        message = "not ready: " + "; ".join(f"{name}: {ready.detail.get(name, 'missing')}" for name in ready.missing)
    else:  # everything loaded, and still the search family cannot answer: the atlas holds no images
        message = "not ready: search: " + ready.routes.get("search", "").removeprefix("not ready: ")
    # a retry can help while something is still loading or the atlas is still to be indexed (the engine
    # takes it up by itself), and a draining engine's replacement will be ready; a component that
    # failed to load stays failed until an operator acts
    loading = any(ready.detail.get(name, "").startswith(("pending", "loading")) for name in ready.missing) or (
        not ready.missing and ready.routes.get("search", "").startswith("not ready"))
    body |= error_body("not_ready", message, retryable=draining or loading)
    retry_after_s = request.app.state.runtime.settings.retry_after_s
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(retry_after_s)})
