"""Liveness and readiness (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from engine.contract import ReadyResponse

from ..errors import error_body

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Always 200 while the process runs."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    summary="Readiness: models and atlas loaded",
    responses={503: {"description": "Still loading or failed; the body says what is missing and why."}},
)
async def readyz(request: Request) -> JSONResponse:
    """200 once every enabled component is loaded; else 503 with what is missing (and the error shape)."""
    ready = request.app.state.runtime.readiness()
    body = ready.model_dump()
    if ready.ready:
        return JSONResponse(body)
    reasons = "; ".join(f"{name}: {ready.detail.get(name, 'missing')}" for name in ready.missing)
    body |= error_body("not_ready", f"not ready: {reasons}")
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
