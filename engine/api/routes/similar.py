"""POST /v1/search/similar/{atlas_id}: more like an atlas image, searched with its stored vector."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from engine.contract import SimilarRequest, SimilarResponse
from engine.pipelines.similar import SimilarPipeline

from ..convert import to_hit
from ..errors import ApiError
from .common import AtlasIdPath, error_responses, runtime_of

router = APIRouter(tags=["search"])


@router.post(
    "/search/similar/{atlas_id}", response_model=SimilarResponse,
    responses=error_responses(400, 404, 422, 501, 503),
)
async def search_similar(request: Request, body: SimilarRequest, atlas_id: str = AtlasIdPath) -> SimilarResponse:
    """The atlas images nearest to this one by its stored CLIP vector (no model runs; it and its
    near-copies are left out)."""
    pipeline = SimilarPipeline(runtime_of(request).retriever())
    # store reads block (a Qdrant server makes them HTTP calls): a worker thread, not the event loop
    result = await run_in_threadpool(lambda: pipeline(atlas_id, k=body.k, modality=body.modality))
    if result is None:
        raise ApiError(404, "not_found", f"no atlas image with id {atlas_id!r}")
    return SimilarResponse(id=atlas_id, hits=[to_hit(h) for h in result.hits], timings_ms=result.timings_ms)
