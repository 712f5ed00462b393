"""POST /v1/embed: CLIP text embeddings (unit vectors)."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request

from engine.contract import EmbedRequest, EmbedResponse

from ..work import answer
from .common import QUEUED_STATUSES, error_responses, runtime_of

router = APIRouter(tags=["embed"])


@router.post("/embed", response_model=EmbedResponse, responses=error_responses(*QUEUED_STATUSES))
async def embed(body: EmbedRequest, request: Request):
    """Each text → CLIP text tower → a unit vector (each text 1–500 characters, not blank)."""
    clip = runtime_of(request).encoder()
    return await answer(request, lambda job: clip.encode_text(list(body.texts)), _response)


def _response(vectors: np.ndarray) -> EmbedResponse:
    return EmbedResponse(vectors=np.asarray(vectors, dtype=np.float32).tolist(), dim=int(vectors.shape[1]))
