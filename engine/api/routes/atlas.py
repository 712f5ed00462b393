"""GET /v1/atlas/{id} (the hit's payload) and GET /v1/atlas/{id}/image (the image bytes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from engine.contract import Hit

from ..convert import to_hit
from ..errors import ApiError
from .common import AtlasIdPath, error_responses, runtime_of

router = APIRouter(tags=["atlas"])
ATLAS_STATUSES = (404, 422, 501, 503)
IMAGE_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}, "description": "The image bytes."}}


@router.get("/atlas/{atlas_id}", response_model=Hit, responses=error_responses(*ATLAS_STATUSES))
async def atlas_entry(request: Request, atlas_id: str = AtlasIdPath) -> Hit:
    """One atlas image's caption, modality and source (score 1.0)."""
    store = runtime_of(request).atlas()
    found = await run_in_threadpool(store.retrieve, [atlas_id])
    if not found:
        raise ApiError(404, "not_found", f"no atlas image with id {atlas_id!r}")
    return to_hit(found[0])


@router.get(
    "/atlas/{atlas_id}/image",
    response_class=Response,
    responses=IMAGE_RESPONSE | error_responses(*ATLAS_STATUSES),
)
async def atlas_image(request: Request, atlas_id: str = AtlasIdPath) -> Response:
    """The image bytes (JPEG) of one atlas entry."""
    store = runtime_of(request).atlas()
    data = await run_in_threadpool(store.image, atlas_id)
    if data is None:
        raise ApiError(404, "not_found", f"no image for atlas id {atlas_id!r}")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400"})
