"""Images on answers: each hit's image fetched once, fitted to the upload limit off the event loop, and
the side-by-side pictures of compare and generate."""

from __future__ import annotations

import asyncio
import logging

from engine.contract import Hit

from ..engine_client import EngineClient, EngineError
from ..render import text
from ..render.images import MAX_FILES, ImageFile, fit_images, marked_png, open_image, png_text, side_by_side
from .reply import Reply
from .slot import engine_done

log = logging.getLogger(__name__)


async def fetch_images(engine: EngineClient, hits: list[Hit]) -> list[bytes | None]:
    """Each hit's image bytes, fetched together (each distinct image once); a missing image is None.

    These fetches are the last engine calls of the flows that post images: in a job, its engine slot is
    freed once they are done (bot/flows/slot.py), while the answer is still being posted."""

    async def one(hit: Hit) -> bytes | None:
        try:
            return await engine.fetch_image(hit.image_url)
        except EngineError as error:
            log.warning("no image for %s: %s", hit.id, error)
            return None

    unique = {hit.image_url: hit for hit in hits}  # e.g. the best match is often also a hit
    fetched = dict(zip(unique, await asyncio.gather(*(one(hit) for hit in unique.values())), strict=True))
    engine_done()
    return [fetched[hit.image_url] for hit in hits]


async def hit_files(
    reply: Reply, engine: EngineClient, labelled: list[tuple[str, Hit]]
) -> tuple[list[ImageFile], dict[int, str]]:
    """Fitted attachments for labelled hits, and which filename shows which hit (by position)."""
    if not reply.can_attach:
        engine_done()  # no images to fetch: the flow's engine work is already done
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


def picture_file(
    stem: str, panels: tuple[tuple[bytes, str, str], ...], alt: str, upload_limit: int
) -> list[ImageFile]:
    """One attachment from one image, or two side by side (bytes, title, caption); run it in a worker thread.

    The first panel's PNG text chunks (a generated image's `synthetic=true`, model, prompt, seed …) go on
    the attachment too, which `fit_images` then keeps a PNG whatever its size: a synthetic image keeps its
    label after a download. The chunk `panels` names what each half of a side-by-side picture shows.
    """
    chunks = png_text(panels[0][0])
    if "synthetic" not in chunks:
        chunks = {}  # only a generated image's marks travel, not whatever else a real image carries
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
        if chunks:
            chunks["panels"] = f"left: {left_title} | right: {right_title}"
    return [f for f in fit_images([(stem, marked_png(picture, chunks), alt)], upload_limit) if f is not None]


def footer(first_line: str, *extra: str) -> str:
    """An answer's last message: its marked line, extra lines, and the disclaimer."""
    return text.with_disclaimer("\n".join(line for line in (first_line, *extra) if line))
