"""POST /v1/generate: a stamped synthetic image and the nearest real one; progress as events."""

from __future__ import annotations

from fastapi import APIRouter, Request

from engine.contract import GenerateRequest, GenerateResponse

from ..convert import generate_response
from ..work import answer
from .common import EVENT_STREAM_RESPONSE, QUEUED_STATUSES, error_responses, runtime_of

router = APIRouter(tags=["generate"])


@router.post(
    "/generate", response_model=GenerateResponse,
    responses=EVENT_STREAM_RESPONSE | error_responses(*QUEUED_STATUSES),
)
async def generate(body: GenerateRequest, request: Request):
    """The original prompt (77 tokens) → diffusion → SYNTHETIC stamp → nearest real atlas image."""
    pipeline = runtime_of(request).generate_pipeline()
    # checked before queueing, so a bad request never takes a place in the queue
    prompt, seed, steps, guidance = pipeline.check_inputs(body.prompt, body.seed, body.steps, body.guidance, body.fast)
    return await answer(
        request,
        lambda job: pipeline(
            prompt, seed=seed, steps=steps, guidance=guidance, fast=body.fast,
            on_step=job.progress, cancel=job.cancel,
        ),
        generate_response,
    )
