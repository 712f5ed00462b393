"""POST /v1/embed: CLIP text embeddings (unit vectors)."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request

from engine.contract import QUERY_MAX_CHARS, EmbedRequest, EmbedResponse

from ..errors import ApiError
from ..work import answer
from .common import runtime_of

router = APIRouter(tags=["embed"])


@router.post("/embed", response_model=EmbedResponse)
async def embed(body: EmbedRequest, request: Request):
    """Each text → CLIP text tower → a unit vector."""
    problems = [
        f"texts[{i}]: " + ("must not be empty" if not t.strip() else f"at most {QUERY_MAX_CHARS} characters")
        for i, t in enumerate(body.texts)
        if not t.strip() or len(t) > QUERY_MAX_CHARS
    ]
    if problems:
        raise ApiError(422, "invalid_input", "; ".join(problems))
    clip = runtime_of(request).encoder()
    return await answer(request, lambda job: clip.encode_text(list(body.texts)), _response)


def _response(vectors: np.ndarray) -> EmbedResponse:
    return EmbedResponse(vectors=np.asarray(vectors, dtype=np.float32).tolist(), dim=int(vectors.shape[1]))
