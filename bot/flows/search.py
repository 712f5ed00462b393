"""Search: by text (explanation, best image, hits), more results, by an uploaded image, and by an atlas
image ('Use as query'). Each answer thread remembers its hits, so follow-ups there are grounded in them.

A text search's explanation is shown as the engine's LLM writes it (bot/flows/live.py), then replaced by
the checked one, labelled as written by a language model from the numbered captions it cites."""

from __future__ import annotations

from typing import Any

import discord

from engine.contract import IMAGE_MAX_BYTES, K_DEFAULT, K_MAX, Hit, SearchRequest, SearchResponse

from ..engine_client import EngineClient
from ..render import text
from ..render.images import EMBED_DESCRIPTION_MAX, EMBED_TITLE_MAX, trim
from ..requests import MoreResults, SearchImage, SearchText, SimilarTo
from ..ui import views
from . import memory
from .context import Context
from .live import LiveText
from .pictures import footer, hit_files
from .reply import Reply
from .run import engine_status, run_job
from .status import StatusLine

EMBED_COLOUR = discord.Colour.teal()
UPLOADED = "your uploaded image"  # what an image search is called instead of its file name


# --- text search -----------------------------------------------------------------------
async def search_text(interaction: discord.Interaction[Any], ctx: Context, request: SearchText) -> None:
    """/mirage search with text: explanation, best image and hits."""
    query, modality = request.query, request.modality

    async def work(reply: Reply, status: StatusLine) -> None:
        working = "🔎 Searching the atlas and writing an explanation…"
        await status.set(working)
        search = SearchRequest.model_validate({"query": query, "k": request.k, "modality": modality})
        live = LiveText(reply, min_interval_s=ctx.settings.progress_interval_s, heading="**Explanation**")
        try:
            result = await ctx.engine.search(search, on_queued=engine_status(status, working), on_text=live.update)
        except BaseException:  # cancelled, failed, timed out: the words shown stay, marked as stopped
            await live.stop()
            raise
        await status.set("🖼️ Fetching images…")
        await send_search_answer(reply, ctx.engine, result, modality=modality, live=live)
        shown = ([result.best.id] if result.best else []) + [hit.id for hit in result.hits]
        await memory.remember_thread(ctx, reply.target, command="search", query=query, hit_ids=shown)

    header = text.mark(text.SEARCH_MARK, query) + (f" · {modality}" if modality else "")
    await run_job(
        interaction, ctx, label="search", header=header, thread_name=text.thread_name("Search", query), work=work,
        record={"query": query, "k": request.k, "modality": modality},
    )


def explanation_label(result: SearchResponse) -> str:
    """Who wrote the explanation and from what: the captions [1]–[k] it was given, and which it cited."""
    k = len(result.context_ids)
    label = f"Written by a language model from the captions {'[1]' if k == 1 else f'[1]–[{k}]'}"
    if result.grounded:
        cited = ", ".join(f"[{c.n}] `{c.id}`" for c in result.citations)
        return f"{label}; cited: {cited}."
    return f"{label}. It cites none of them validly: check it against the hits below."


async def send_search_answer(
    reply: Reply, engine: EngineClient, result: SearchResponse, *, modality: str | None,
    live: LiveText | None = None,
) -> None:
    """Explanation, best image and first-pass hits, each with its source (the explanation in place of its
    streamed words when there were any)."""
    labelled = ([("best", result.best)] if result.best else []) + [
        (str(n), h) for n, h in enumerate(result.hits, 1)
    ]
    files, names = await hit_files(reply, engine, labelled)
    explanation = result.enriched or "(No explanation: the engine's language model is switched off.)"
    label = f"-# {explanation_label(result)}\n" if result.enriched else ""
    parts: list[str] = []
    embed = None
    if reply.can_embed:
        embed = discord.Embed(
            title=trim(f"Explanation: {result.query}", EMBED_TITLE_MAX),
            description=trim(f"{label}{explanation}", EMBED_DESCRIPTION_MAX),
            colour=EMBED_COLOUR,
        ).set_footer(text=text.DISCLAIMER_LINE.removeprefix("-# "))
    else:
        parts.append(f"**Explanation**\n{label}{text.escape(explanation)}")
    offset = 0
    if result.best:
        parts.append("**Best match for the explanation**\n" + text.hit_block(result.best, "★", names.get(0)))
        offset = 1
    if result.hits:
        blocks = [text.hit_block(h, n, names.get(n - 1 + offset)) for n, h in enumerate(result.hits, 1)]
        parts.append("**First-pass hits**\n" + "\n".join(blocks))
    else:
        parts.append(
            "The atlas has no images for this query" + (f" with modality {modality}." if modality else ".")
        )
    if live is not None:
        await live.discard()  # the checked explanation, with the images and hits, takes the streamed words' place
    await reply.send("\n\n".join(parts), embed=embed)
    last = footer(text.mark(text.SEARCH_MARK, result.query), _modality_line(modality))
    view = views.search_view(shown=len(result.hits), modality=modality, hit_ids=[h.id for h in result.hits])
    await reply.send(last, files=files, view=view)


# --- more results ----------------------------------------------------------------------
async def more_results(interaction: discord.Interaction[Any], ctx: Context, request: MoreResults) -> None:
    """'More results': the next page of first-pass hits, without a new explanation."""
    query, shown, modality = request.query, request.shown, request.modality
    k = min(shown + K_DEFAULT, K_MAX)

    async def work(reply: Reply, status: StatusLine) -> None:
        working = "🔎 Looking for more results…"
        await status.set(working)
        search = SearchRequest.model_validate({"query": query, "k": k, "enrich": False, "modality": modality})
        result = await ctx.engine.search(search, on_queued=engine_status(status, working))
        hits = result.hits[shown:]
        await send_more_results(reply, ctx.engine, query, hits, first=shown + 1, modality=modality)
        await memory.extend_thread(ctx, reply.target, [hit.id for hit in hits])

    await run_job(
        interaction, ctx, label="more", header=f"➕ More results for: {text.escape(query)}",
        thread_name=text.thread_name("More", query), work=work,
        record={"query": query, "shown": shown, "modality": modality},
    )


async def send_more_results(
    reply: Reply, engine: EngineClient, query: str, hits: list[Hit], *, first: int, modality: str | None
) -> None:
    """The next page of hits for a query (ranks `first`, `first`+1, …)."""
    files, names = await hit_files(reply, engine, [(str(first + i), h) for i, h in enumerate(hits)])
    if hits:
        blocks = [text.hit_block(h, first + i, names.get(i)) for i, h in enumerate(hits)]
        body = f"**More results, {first}–{first + len(hits) - 1}**\n" + "\n".join(blocks)
    else:
        body = "No more results for this query."
    await reply.send(body)
    shown = first - 1 + len(hits)
    view = views.search_view(
        shown=shown if hits else K_MAX, modality=modality, hit_ids=[h.id for h in hits], first=first
    )
    await reply.send(footer(text.mark(text.SEARCH_MARK, query), _modality_line(modality)), files=files, view=view)


# --- by image --------------------------------------------------------------------------
async def search_image(interaction: discord.Interaction[Any], ctx: Context, request: SearchImage) -> None:
    """/mirage search with an image: atlas images like it (a text query given too is not used; we say so)."""
    image = request.attachment
    if image.size > IMAGE_MAX_BYTES:
        await interaction.response.send_message(
            f"That image is {image.size / 2**20:.1f} MiB; the limit is {IMAGE_MAX_BYTES // 2**20} MiB.",
            ephemeral=True,
        )
        return
    if not (image.content_type or "").startswith("image/"):
        await interaction.response.send_message(
            f"That file is not an image (type {image.content_type or 'unknown'}); attach a PNG or JPEG.",
            ephemeral=True,
        )
        return

    async def work(reply: Reply, status: StatusLine) -> None:
        await status.set("🖼️ Searching the atlas by your image…")
        data = await image.read()
        result = await ctx.engine.search_image(data, k=request.k)  # the engine gets a neutral name too
        await send_image_hits(reply, ctx.engine, result.hits, what="your image")
        await memory.remember_thread(
            ctx, reply.target, command="image", query=UPLOADED, hit_ids=[h.id for h in result.hits]
        )

    # The file name is never shown, stored or sent on: it is often a patient's or a student's name.
    header = f"🖼️ **Search by image:** {UPLOADED}\n{text.NO_PATIENT_IMAGES}"
    if request.text_ignored:
        header += "\n-# Searched by the image only; run the command without an image to search by text."
    await run_job(
        interaction, ctx, label="image", header=header,
        thread_name=text.thread_name("Image search", UPLOADED), work=work, record={"k": request.k},
    )


async def similar_to(interaction: discord.Interaction[Any], ctx: Context, request: SimilarTo) -> None:
    """'Use this as a query': the engine searches with that atlas image's stored vector (nothing re-uploaded)."""
    atlas_id = request.atlas_id

    async def work(reply: Reply, status: StatusLine) -> None:
        await status.set(f"🖼️ Searching the atlas by `{atlas_id}`…")
        result = await ctx.engine.similar(atlas_id, k=K_DEFAULT)  # the image itself is left out
        await send_image_hits(reply, ctx.engine, result.hits, what=f"`{atlas_id}`")
        await memory.remember_thread(
            ctx, reply.target, command="similar", query=atlas_id, hit_ids=[h.id for h in result.hits]
        )

    await run_job(
        interaction, ctx, label="image", header=f"🖼️ **Search by image:** `{atlas_id}`",
        thread_name=text.thread_name("Image search", atlas_id), work=work, record={"atlas_id": atlas_id},
    )


async def send_image_hits(reply: Reply, engine: EngineClient, hits: list[Hit], *, what: str) -> None:
    """Atlas images similar to a query image."""
    files, names = await hit_files(reply, engine, [(str(n), h) for n, h in enumerate(hits, 1)])
    if hits:
        body = f"🖼️ **Images like {what}**\n" + "\n".join(
            text.hit_block(h, n, names.get(n - 1)) for n, h in enumerate(hits, 1)
        )
    else:
        body = f"🖼️ The atlas has no images like {what}."
    await reply.send(body)
    await reply.send(footer(""), files=files, view=views.hits_view([h.id for h in hits]))


def _modality_line(modality: str | None) -> str:
    return f"modality: {modality}" if modality else ""
