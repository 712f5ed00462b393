"""POST /v1/quiz: an atlas image with its caption hidden, choices with CLIP hard negatives, hints."""

from __future__ import annotations

from fastapi import APIRouter, Request

from engine.contract import QuizChoice, QuizRequest, QuizResponse
from engine.pipelines.quiz import QuizResult

from ..convert import image_url, to_hit
from ..work import answer
from .common import EVENT_STREAM_RESPONSE, QUEUED_STATUSES, error_responses, runtime_of

router = APIRouter(tags=["quiz"])


@router.post("/quiz", response_model=QuizResponse, responses=EVENT_STREAM_RESPONSE | error_responses(*QUEUED_STATUSES))
async def quiz(body: QuizRequest, request: Request):
    """One question. Same seed, same item and choice order; no seed, a random one (returned).

    A modality with too few usable items is a 422 whose message lists the usable items per modality.
    """
    pipeline = runtime_of(request).quiz_pipeline()
    pipeline.check_inputs(body.modality, body.seed, body.choices, body.kind)
    return await answer(
        request,
        lambda job: pipeline(modality=body.modality, seed=body.seed, choices=body.choices, kind=body.kind),
        quiz_response,
    )


def quiz_response(result: QuizResult) -> QuizResponse:
    """`POST /v1/quiz`'s answer."""
    return QuizResponse(
        kind=result.kind,  # type: ignore[arg-type]
        item=to_hit(result.item),
        image_url=image_url(result.item.atlas_id),
        question=result.question,
        choices=[QuizChoice(text=c.text, full_text=c.full_text, id=c.atlas_id) for c in result.choices],
        answer=result.answer,
        hints=result.hints,
        seed=result.seed,
        timings_ms=result.timings_ms,
    )
