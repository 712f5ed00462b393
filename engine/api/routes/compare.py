"""POST /v1/compare: hits for a query and for query − subtract + add, side by side."""

from __future__ import annotations

from fastapi import APIRouter, Request

from engine.contract import CompareRequest, CompareResponse

from ..convert import compare_response
from ..work import answer
from .common import EVENT_STREAM_RESPONSE, QUEUED_STATUSES, error_responses, runtime_of

router = APIRouter(tags=["compare"])


@router.post(
    "/compare", response_model=CompareResponse, responses=EVENT_STREAM_RESPONSE | error_responses(*QUEUED_STATUSES)
)
async def compare(body: CompareRequest, request: Request):
    """v = normalise(normalise(q) − normalise(s) + normalise(a)); top-k for q and for v."""
    pipeline = runtime_of(request).compare_pipeline()
    return await answer(
        request,
        lambda job: pipeline(body.query, body.subtract, body.add, k=body.k, modality=body.modality),
        compare_response,
    )
