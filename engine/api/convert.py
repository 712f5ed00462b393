"""Pipeline results → the HTTP contract's bodies."""

from __future__ import annotations

import base64

from engine.contract import (
    Citation,
    CompareResponse,
    Concept,
    GenerateResponse,
    Hit,
    HitList,
    ImageSearchResponse,
    SearchResponse,
    Source,
)
from engine.pipelines.results import CompareResult, GenerateResult, ImageSearchResult, SearchResult
from engine.store.base import StoredHit


def image_url(atlas_id: str) -> str:
    """The engine path that serves an atlas image's bytes."""
    return f"/v1/atlas/{atlas_id}/image"


def to_hit(hit: StoredHit) -> Hit:
    """A stored hit as the contract's Hit, with its source and image URL."""
    p = hit.payload
    return Hit(
        id=hit.atlas_id,
        score=round(float(hit.score), 6),
        caption=p.caption,
        modality=p.modality,
        source=Source(roco_id=p.atlas_id, pmc_id=p.pmc_id, licence=p.licence, collection=p.source),
        image_url=image_url(hit.atlas_id),
        keywords=list(p.keywords),
        split=p.split,
        concepts=[Concept(cui=str(c["cui"]), name=c.get("name"), semtype=c.get("semtype")) for c in p.concepts],
    )


def search_response(result: SearchResult) -> SearchResponse:
    """`POST /v1/search`'s answer."""
    return SearchResponse(
        query=result.query,
        enriched=result.enriched,
        best=to_hit(result.best) if result.best else None,
        hits=[to_hit(h) for h in result.hits],
        context_ids=[h.atlas_id for h in result.context],
        citations=[Citation(n=n, id=atlas_id) for n, atlas_id in result.citations],
        grounded=result.grounded,
        notes=list(result.notes),
        timings_ms=result.timings_ms,
    )


def image_search_response(result: ImageSearchResult) -> ImageSearchResponse:
    """`POST /v1/search/image`'s answer."""
    return ImageSearchResponse(hits=[to_hit(h) for h in result.hits], timings_ms=result.timings_ms)


def compare_response(result: CompareResult) -> CompareResponse:
    """`POST /v1/compare`'s answer."""
    return CompareResponse(
        query=result.query, subtract=result.subtract, add=result.add,
        original=HitList(hits=[to_hit(h) for h in result.original]),
        modified=HitList(hits=[to_hit(h) for h in result.modified]),
        timings_ms=result.timings_ms,
    )


def generate_response(result: GenerateResult) -> GenerateResponse:
    """`POST /v1/generate`'s answer."""
    return GenerateResponse(
        prompt=result.prompt,
        prompt_used=result.prompt_used,
        image_png_b64=base64.b64encode(result.png).decode("ascii"),
        seed=result.seed,
        steps=result.steps,
        guidance=result.guidance,
        fast=result.fast,
        nearest=to_hit(result.nearest) if result.nearest else None,
        timings_ms=result.timings_ms,
    )
