"""GET /v1/atlas/{id} (the hit's payload) and GET /v1/atlas/{id}/image (the image bytes)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from engine.contract import Hit

from ..convert import to_hit
from ..errors import ApiError
from .common import runtime_of

router = APIRouter(tags=["atlas"])

AtlasId = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$", description="e.g. ROCO_00020")


@router.get("/atlas/{atlas_id}", response_model=Hit)
async def atlas_entry(request: Request, atlas_id: str = AtlasId) -> Hit:
    """One atlas image's caption, modality and source (score 1.0)."""
    store = runtime_of(request).atlas()
    found = await run_in_threadpool(store.retrieve, [atlas_id])
    if not found:
        raise ApiError(404, "not_found", f"no atlas image with id {atlas_id!r}")
    return to_hit(found[0])


@router.get(
    "/atlas/{atlas_id}/image",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "The image bytes."}},
)
async def atlas_image(request: Request, atlas_id: str = AtlasId) -> Response:
    """The image bytes (JPEG) of one atlas entry."""
    store = runtime_of(request).atlas()
    data = await run_in_threadpool(store.image, atlas_id)
    if data is None:
        raise ApiError(404, "not_found", f"no image for atlas id {atlas_id!r}")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400"})
