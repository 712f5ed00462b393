"""Turn engine answers into Discord messages: text with sources, fitted images, buttons.

Every answer ends with a footer message carrying the disclaimer, the images and the buttons; the
footer's first line is the marked query that the buttons read back after a restart.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging

import discord

from engine.contract import K_MAX, SYNTHETIC_LABEL, CompareResponse, GenerateResponse, Hit, SearchResponse

from . import messages, views
from .engine_client import EngineClient, EngineError
from .render import (
    EMBED_DESCRIPTION_MAX,
    EMBED_TITLE_MAX,
    MAX_FILES,
    ImageFile,
    fit_images,
    open_image,
    side_by_side,
    trim,
)
from .reply import Reply

log = logging.getLogger(__name__)

EMBED_COLOUR = discord.Colour.teal()


async def fetch_images(engine: EngineClient, hits: list[Hit]) -> list[bytes | None]:
    """Each hit's image bytes, fetched together (each distinct image once); a missing image is None."""

    async def one(hit: Hit) -> bytes | None:
        try:
            return await engine.fetch_image(hit.image_url)
        except EngineError as error:
            log.warning("no image for %s: %s", hit.id, error)
            return None

    unique = {hit.image_url: hit for hit in hits}  # e.g. the best match is often also a hit
    fetched = dict(zip(unique, await asyncio.gather(*(one(hit) for hit in unique.values())), strict=True))
    return [fetched[hit.image_url] for hit in hits]


async def _hit_files(
    reply: Reply, engine: EngineClient, labelled: list[tuple[str, Hit]]
) -> tuple[list[ImageFile], dict[int, str]]:
    """Fitted attachments for labelled hits, and which filename shows which hit (by position)."""
    if not reply.can_attach:
        return [], {}
    labelled = labelled[:MAX_FILES]  # fetch no more than Discord lets us attach
    images = await fetch_images(engine, [hit for _, hit in labelled])
    fitted = await asyncio.to_thread(  # decoding and re-encoding take long enough to stall the gateway
        fit_images,
        [
            (f"{label}_{hit.id}", data or b"", hit.caption)
            for (label, hit), data in zip(labelled, images, strict=True)
        ],
        reply.upload_limit,
    )
    names = {i: f.filename for i, f in enumerate(fitted) if f is not None}
    return [f for f in fitted if f is not None], names


def _footer(first_line: str, *extra: str) -> str:
    return messages.with_disclaimer("\n".join(line for line in (first_line, *extra) if line))


async def send_search_answer(
    reply: Reply, engine: EngineClient, result: SearchResponse, *, modality: str | None
) -> None:
    """Explanation, best image and first-pass hits, each with its source."""
    labelled = ([("best", result.best)] if result.best else []) + [
        (str(n), h) for n, h in enumerate(result.hits, 1)
    ]
    files, names = await _hit_files(reply, engine, labelled)
    explanation = result.enriched or "(No explanation: the engine's language model is switched off.)"
    parts: list[str] = []
    embed = None
    if reply.can_embed:
        embed = discord.Embed(
            title=trim(f"Explanation: {result.query}", EMBED_TITLE_MAX),
            description=trim(explanation, EMBED_DESCRIPTION_MAX),
            colour=EMBED_COLOUR,
        ).set_footer(text=messages.DISCLAIMER_LINE.removeprefix("-# "))
    else:
        parts.append(f"**Explanation**\n{messages.escape(explanation)}")
    offset = 0
    if result.best:
        parts.append(
            "**Best match for the explanation**\n" + messages.hit_block(result.best, "★", names.get(0))
        )
        offset = 1
    if result.hits:
        blocks = [messages.hit_block(h, n, names.get(n - 1 + offset)) for n, h in enumerate(result.hits, 1)]
        parts.append("**First-pass hits**\n" + "\n".join(blocks))
    else:
        parts.append(
            "The atlas has no images for this query" + (f" with modality {modality}." if modality else ".")
        )
    await reply.send("\n\n".join(parts), embed=embed)
    footer = _footer(messages.mark(messages.SEARCH_MARK, result.query), _modality_line(modality))
    view = views.search_view(shown=len(result.hits), modality=modality, hit_ids=[h.id for h in result.hits])
    await reply.send(footer, files=files, view=view)


async def send_more_results(
    reply: Reply, engine: EngineClient, query: str, hits: list[Hit], *, first: int, modality: str | None
) -> None:
    """The next page of hits for a query (ranks `first`, `first`+1, …)."""
    files, names = await _hit_files(reply, engine, [(str(first + i), h) for i, h in enumerate(hits)])
    if hits:
        blocks = [messages.hit_block(h, first + i, names.get(i)) for i, h in enumerate(hits)]
        body = f"**More results, {first}–{first + len(hits) - 1}**\n" + "\n".join(blocks)
    else:
        body = "No more results for this query."
    await reply.send(body)
    shown = first - 1 + len(hits)
    view = views.search_view(
        shown=shown if hits else K_MAX, modality=modality, hit_ids=[h.id for h in hits], first=first
    )
    footer = _footer(messages.mark(messages.SEARCH_MARK, query), _modality_line(modality))
    await reply.send(footer, files=files, view=view)


async def send_image_hits(reply: Reply, engine: EngineClient, hits: list[Hit], *, what: str) -> None:
    """Atlas images similar to a query image."""
    files, names = await _hit_files(reply, engine, [(str(n), h) for n, h in enumerate(hits, 1)])
    if hits:
        body = f"🖼️ **Images like {what}**\n" + "\n".join(
            messages.hit_block(h, n, names.get(n - 1)) for n, h in enumerate(hits, 1)
        )
    else:
        body = f"🖼️ The atlas has no images like {what}."
    await reply.send(body)
    await reply.send(_footer(""), files=files, view=views.hits_view([h.id for h in hits]))


async def send_compare_answer(reply: Reply, engine: EngineClient, result: CompareResponse) -> None:
    """One side-by-side picture: top image for the base query and for base − subtract + add."""
    moved = f"{result.query} − {result.subtract} + {result.add}"
    left = result.original.hits[0] if result.original.hits else None
    right = result.modified.hits[0] if result.modified.hits else None
    if left is None or right is None:
        await reply.send(_footer("⚖️ The atlas returned no image for one of the two queries."))
        return
    files = []
    name = None
    if reply.can_attach:
        left_bytes, right_bytes = await fetch_images(engine, [left, right])
        if left_bytes and right_bytes:
            alt = f"Left: {left.caption} | Right: {right.caption}"
            panels = ((left_bytes, result.query, left.caption), (right_bytes, moved, right.caption))
            files = await asyncio.to_thread(_picture_file, "compare", panels, alt, reply.upload_limit)
            name = files[0].filename if files else None
    body = "\n\n".join(
        [
            f"⚖️ **Compare:** {messages.escape(moved)}",
            f"**Left: {messages.escape(trim(result.query, 200))}**\n" + messages.hit_block(left, "L", name),
            f"**Right: {messages.escape(trim(moved, 200))}**\n" + messages.hit_block(right, "R", name),
        ]
    )
    await reply.send(body)
    await reply.send(_footer(""), files=files, view=views.compare_view(left.id, right.id))


async def send_generate_answer(reply: Reply, engine: EngineClient, result: GenerateResponse) -> None:
    """The synthetic image beside the nearest real atlas image, both labelled."""
    nearest = result.nearest
    nearest_bytes = (await fetch_images(engine, [nearest]))[0] if nearest and reply.can_attach else None
    files: list[ImageFile] = []
    if reply.can_attach:
        synthetic = (
            await asyncio.to_thread(base64.b64decode, result.image_png_b64),
            f"{SYNTHETIC_LABEL} · seed {result.seed}",
            f"Made by a model from: {result.prompt_used}",
        )
        panels = (synthetic,)
        if nearest is not None and nearest_bytes is not None:
            panels += ((nearest_bytes, f"Nearest real image · {nearest.id}", nearest.caption),)
        alt = f"{SYNTHETIC_LABEL} image from the prompt: {result.prompt_used}"
        files = await asyncio.to_thread(_picture_file, "synthetic", panels, alt, reply.upload_limit)
    name = files[0].filename if files else None
    lines = [
        f"🧪 **Left: a {SYNTHETIC_LABEL} image** made by a diffusion model. It is not a real patient.",
    ]
    if nearest is not None:
        lines.append("**Right: the nearest real atlas image**\n" + messages.hit_block(nearest, "R", name))
    await reply.send("\n".join(lines))
    settings = f"seed {result.seed} · {result.steps} steps · guidance {result.guidance:g}" + (
        " · fast" if result.fast else ""
    )
    footer = _footer(messages.mark(messages.GENERATE_MARK, result.prompt), settings)
    view = views.generate_view(
        steps=result.steps, fast=result.fast, nearest_id=nearest.id if nearest else None
    )
    await reply.send(footer, files=files, view=view)


def _modality_line(modality: str | None) -> str:
    return f"modality: {modality}" if modality else ""


def _picture_file(
    stem: str, panels: tuple[tuple[bytes, str, str], ...], alt: str, upload_limit: int
) -> list[ImageFile]:
    """One attachment from one image, or two side by side (bytes, title, caption); runs in a worker thread."""
    if len(panels) == 1:
        picture = open_image(panels[0][0])
    else:
        (left, left_title, left_caption), (right, right_title, right_caption) = panels
        picture = side_by_side(
            open_image(left),
            open_image(right),
            left_title=left_title,
            right_title=right_title,
            left_caption=left_caption,
            right_caption=right_caption,
        )
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False)
    return [f for f in fit_images([(stem, buffer.getvalue(), alt)], upload_limit) if f is not None]
