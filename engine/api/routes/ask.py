"""POST /v1/ask: a follow-up question answered from given atlas images, with checked citations."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from engine.contract import AskRequest, AskResponse, Citation
from engine.pipelines.ask import AskResult, UnknownAtlasIds

from ..convert import to_hit
from ..errors import ApiError
from ..work import answer
from .common import EVENT_STREAM_RESPONSE, QUEUED_STATUSES, error_responses, runtime_of

router = APIRouter(tags=["ask"])


@router.post("/ask", response_model=AskResponse,
             responses=EVENT_STREAM_RESPONSE | error_responses(404, *QUEUED_STATUSES))
async def ask(body: AskRequest, request: Request):
    """The captions of `context_ids` numbered [1]…[k] → LLM answer → only citations 1…k kept.

    When no valid citation remains the answer is the numbered captions themselves and `grounded` is false.
    """
    pipeline = runtime_of(request).ask_pipeline()
    question, ids = pipeline.check_inputs(body.question, body.context_ids, body.seed)
    # fetched before queueing: an unknown id is a 404 at once, without waiting for the model queue
    try:
        context = await run_in_threadpool(pipeline.fetch_context, ids)
    except UnknownAtlasIds as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return await answer(
        request, lambda job: pipeline.answer(question, context, seed=body.seed, cancel=job.cancel), ask_response
    )


def ask_response(result: AskResult) -> AskResponse:
    """`POST /v1/ask`'s answer."""
    return AskResponse(
        question=result.question,
        answer=result.answer,
        citations=[Citation(n=n, id=atlas_id) for n, atlas_id in result.citations],
        sources=[to_hit(h) for h in result.sources],
        grounded=result.grounded,
        notes=list(result.notes),
        timings_ms=result.timings_ms,
    )
