"""POST /v1/search (text, with LLM enrichment) and POST /v1/search/image (multipart image)."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from PIL import Image, UnidentifiedImageError

from engine.contract import (
    IMAGE_MAX_BYTES,
    IMAGE_MAX_PIXELS,
    K_DEFAULT,
    K_MAX,
    K_MIN,
    ImageSearchResponse,
    Modality,
    SearchRequest,
    SearchResponse,
)

from ..convert import image_search_response, search_response
from ..errors import ApiError
from ..guard import IMAGE_TOO_LARGE
from ..sse import token_hook
from ..work import answer
from .common import EVENT_STREAM_RESPONSE, QUEUED_STATUSES, error_responses, runtime_of

router = APIRouter(tags=["search"])


@router.post(
    "/search", response_model=SearchResponse, responses=EVENT_STREAM_RESPONSE | error_responses(*QUEUED_STATUSES)
)
async def search(body: SearchRequest, request: Request):
    """Query → atlas hits → LLM explanation citing the top captions [1]–[k] → the image that best matches it.

    With `Accept: text/event-stream` the explanation's words stream as `token` events before the result."""
    pipeline = runtime_of(request).search_pipeline(enrich=body.enrich)
    pipeline.check_inputs(body.query, body.k, body.seed)
    return await answer(
        request,
        lambda job: pipeline(
            body.query, k=body.k, enrich=body.enrich, modality=body.modality, seed=body.seed, cancel=job.cancel,
            on_text=token_hook(request, job),
        ),
        search_response,
    )


@router.post(
    "/search/image", response_model=ImageSearchResponse,
    responses=EVENT_STREAM_RESPONSE | error_responses(*QUEUED_STATUSES),
)
async def search_by_image(
    request: Request,
    # minLength: an empty file is invalid by the schema itself (the route answers it 422, as the schema says)
    image: Annotated[UploadFile, File(description=f"PNG or JPEG, 1 to {IMAGE_MAX_BYTES} bytes",
                                      json_schema_extra={"minLength": 1})],
    k: Annotated[int, Form(ge=K_MIN, le=K_MAX)] = K_DEFAULT,
    modality: Annotated[Modality | None, Form()] = None,
):
    """An image → CLIP image embedding → the nearest atlas images."""
    pipeline = runtime_of(request).image_search_pipeline()
    picture = await _read_image(image)
    return await answer(request, lambda job: pipeline(picture, k=k, modality=modality), image_search_response)


async def _read_image(upload: UploadFile) -> Image.Image:
    data = await upload.read(IMAGE_MAX_BYTES + 1)
    if len(data) > IMAGE_MAX_BYTES:
        raise ApiError(413, "too_large", IMAGE_TOO_LARGE)
    if not data:
        raise ApiError(422, "invalid_input", "image: the file is empty")
    return await run_in_threadpool(decode_image, data)


def decode_image(data: bytes) -> Image.Image:
    """The uploaded bytes as an RGB image; 413 above IMAGE_MAX_PIXELS, 422 when unreadable."""
    too_many = ApiError(413, "too_large", f"image: at most {IMAGE_MAX_PIXELS} pixels")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > IMAGE_MAX_PIXELS:
                raise too_many
            return img.convert("RGB")
    except Image.DecompressionBombError:
        raise too_many from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise ApiError(422, "invalid_input", "image: not a readable image (PNG, JPEG, WebP …)") from None
