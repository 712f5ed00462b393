"""POST /v1/quiz: an atlas image with its caption hidden, fair choices with CLIP hard negatives, hints."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from engine.contract import QuizChoice, QuizHint, QuizRequest, QuizResponse, Source
from engine.pipelines.quiz import QuizPipeline, QuizResult, QuizUnavailable

from ..convert import image_url, to_hit
from ..errors import ApiError
from ..work import answer
from .common import EVENT_STREAM_RESPONSE, QUEUED_STATUSES, error_responses, runtime_of

router = APIRouter(tags=["quiz"])
TOO_FEW_ITEMS = 409  # the request is valid; the atlas as it is cannot make this quiz


@router.post("/quiz", response_model=QuizResponse,
             responses=EVENT_STREAM_RESPONSE | error_responses(*QUEUED_STATUSES, TOO_FEW_ITEMS))
async def quiz(body: QuizRequest, request: Request) -> BaseModel | StreamingResponse:
    """One question. Same seed, same item and choice order; no seed, a random one (returned).

    The items come from a modality, a topic, a concept or an explicit set. A pool with too few usable
    items is a 409 (code `too_few_items`) whose message says how many there are; a schema-valid request
    is never a 422 for what the atlas holds.
    """
    pipeline = runtime_of(request).quiz_pipeline()
    pipeline.check_inputs(body.modality, body.seed, body.choices, body.kind,
                          topic=body.topic, concept=body.concept, item_ids=body.item_ids)
    return await answer(request, lambda job: _ask(pipeline, body), quiz_response)


def _ask(pipeline: QuizPipeline, body: QuizRequest) -> QuizResult:
    try:
        return pipeline(modality=body.modality, seed=body.seed, choices=body.choices, kind=body.kind,
                        topic=body.topic, concept=body.concept, item_ids=body.item_ids)
    except QuizUnavailable as exc:
        raise ApiError(TOO_FEW_ITEMS, "too_few_items", str(exc)) from None


def quiz_response(result: QuizResult) -> QuizResponse:
    """`POST /v1/quiz`'s answer."""
    choices = []
    for c in result.choices:
        p = c.hit.payload if c.hit is not None else None
        choices.append(QuizChoice(
            text=c.text, full_text=c.full_text, id=c.atlas_id,
            source=Source(roco_id=p.atlas_id, pmc_id=p.pmc_id, licence=p.licence, collection=p.source) if p else None,
            image_url=image_url(c.atlas_id) if c.atlas_id else None,
        ))
    return QuizResponse(
        kind=result.kind,  # type: ignore[arg-type]  # the pipeline checked it is a QuizKind
        item=to_hit(result.item),
        image_url=image_url(result.item.atlas_id),
        question=result.question,
        choices=choices,
        answer=result.answer,
        hints=result.hints,
        hint_ladder=[QuizHint(text=h.text, kind=h.kind, strike=h.strike) for h in result.ladder],  # type: ignore[arg-type]  # kind is shows/strike
        points_by_hints=result.points,
        pool_size=result.pool_size,
        notes=result.notes,
        seed=result.seed,
        timings_ms=result.timings_ms,
    )
