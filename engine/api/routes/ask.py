"""POST /v1/ask: a follow-up question answered from given atlas images and the thread's earlier turns,
with checked citations; with `Accept: text/event-stream` the answer's words stream as `token` events."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from engine.contract import AskRequest, AskResponse, Citation
from engine.pipelines.ask import AskResult, UnknownAtlasIds
from engine.pipelines.prompts import EarlierTurn

from ..convert import to_hit
from ..errors import ApiError
from ..sse import token_hook
from ..work import answer
from .common import EVENT_STREAM_RESPONSE, QUEUED_STATUSES, error_responses, runtime_of

router = APIRouter(tags=["ask"])


@router.post("/ask", response_model=AskResponse,
             responses=EVENT_STREAM_RESPONSE | error_responses(404, *QUEUED_STATUSES))
async def ask(body: AskRequest, request: Request):
    """The earlier turns (the newest within the token bound) and the captions of `context_ids` numbered
    [1]…[k] → LLM answer → only citations 1…k kept.

    When no valid citation remains the answer is the numbered captions themselves and `grounded` is false.
    """
    pipeline = runtime_of(request).ask_pipeline()
    question, ids = pipeline.check_inputs(body.question, body.context_ids, body.seed)
    history = [EarlierTurn(turn.question, turn.answer) for turn in body.history]
    # fetched before queueing: an unknown id is a 404 at once, without waiting for the model queue
    try:
        context = await run_in_threadpool(pipeline.fetch_context, ids)
    except UnknownAtlasIds as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return await answer(
        request,
        lambda job: pipeline.answer(
            question, context, seed=body.seed, cancel=job.cancel, history=history, on_text=token_hook(request, job)
        ),
        ask_response,
    )


def ask_response(result: AskResult) -> AskResponse:
    """`POST /v1/ask`'s answer."""
    return AskResponse(
        question=result.question,
        answer=result.answer,
        citations=[Citation(n=n, id=atlas_id) for n, atlas_id in result.citations],
        sources=[to_hit(h) for h in result.sources],
        grounded=result.grounded,
        history_used=result.history_used,
        history_dropped=result.history_dropped,
        notes=list(result.notes),
        timings_ms=result.timings_ms,
    )
