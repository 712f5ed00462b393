"""The life of one request, from command or button to answer.

1. check the server's limits (channels, roles) and the queue's door (per-user cap, cooldown);
2. acknowledge at once (Discord wants an answer within 3 s);
3. open the place to answer in (a thread on the command's message) with a status line and a cancel button;
4. wait for a fair turn, showing the place in line, then ask the engine, showing its progress;
5. post the answer, or a friendly line saying what went wrong. The queue slot is freed in every case.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from pydantic import ValidationError

from engine.contract import (
    IMAGE_MAX_BYTES,
    K_DEFAULT,
    K_MAX,
    CompareRequest,
    GenerateRequest,
    SearchRequest,
)

from . import answers, messages, views
from .access import access_denied
from .engine_client import EngineError
from .errors import SORRY
from .metrics import METRICS
from .queue import JobCancelled, QueueRejected
from .reply import Reply
from .services import Services
from .status import StatusLine

log = logging.getLogger(__name__)

Work = Callable[[Reply, StatusLine], Awaitable[None]]


async def run_job(
    interaction: discord.Interaction[Any],
    services: Services,
    *,
    label: str,
    header: str,
    thread_name: str,
    work: Work,
) -> None:
    """Steps 1–5 above for one request; `work` asks the engine and posts the answer."""
    # 1. limits
    denied = access_denied(interaction, services.settings)
    if denied is not None:
        METRICS.finished(label, "denied")
        await interaction.response.send_message(denied, ephemeral=True)
        return
    try:
        job = services.queue.submit(interaction.user.id, label)
    except QueueRejected as rejected:
        METRICS.finished(label, "rejected")
        await interaction.response.send_message(str(rejected), ephemeral=True)
        return
    status: StatusLine | None = None
    try:
        # 2. acknowledge
        await interaction.response.defer(thinking=True)
        METRICS.acknowledged(label, getattr(interaction, "created_at", None))
        await interaction.edit_original_response(
            content=header, allowed_mentions=discord.AllowedMentions.none()
        )
        # 3. where to answer
        reply = await Reply.open(interaction, thread_name)
        first_line = messages.queue_place(services.queue.position(job))
        status = StatusLine(
            await reply.send(first_line, view=views.cancel_view(job), notes=False),
            min_interval_s=services.settings.progress_interval_s,
        )

        # 4. fair turn, then the engine (under one deadline for the whole answer)
        async def timed_work() -> None:
            async with asyncio.timeout(services.settings.job_timeout_s):
                await work(reply, status)

        await services.queue.run(
            job, timed_work, on_position=lambda place: status.set(messages.queue_place(place))
        )
        # 5. outcome
        await status.finish("✅ Done.", view=None)
        METRICS.finished(label, "ok")
    except JobCancelled:
        METRICS.finished(label, "cancelled")
        if status is not None:
            await status.finish("🛑 Cancelled.", view=None)
    except EngineError as error:
        METRICS.finished(label, "engine_error")
        log.info("job %s (%s) failed: %s [%s, status %s]", job.id, label, error, error.code, error.status)
        await _tell(interaction, status, f"❌ {messages.friendly_error(error)}")
    except TimeoutError:
        METRICS.finished(label, "timeout")
        log.info("job %s (%s) ran past %g s", job.id, label, services.settings.job_timeout_s)
        text = f"❌ This took longer than {services.settings.job_timeout_s:g} s, so I stopped. Please try again later."
        await _tell(interaction, status, text)
    except Exception:
        METRICS.finished(label, "error")
        if status is not None:  # leave no "working…" line behind; the edge logs and tells the user
            await status.finish(f"❌ {SORRY}", view=None)
        raise
    finally:
        services.queue.close(job)


async def _tell(interaction: discord.Interaction[Any], status: StatusLine | None, text: str) -> None:
    if status is not None:
        await status.finish(text, view=None)
    else:
        await interaction.followup.send(text, ephemeral=True)


def _engine_status(status: StatusLine, working: str) -> Callable[[int], Awaitable[None]]:
    return lambda position: status.set(messages.engine_place(position, working))


# --- the requests ----------------------------------------------------------------------
async def start_search(
    interaction: discord.Interaction[Any],
    services: Services,
    query: str,
    *,
    k: int = K_DEFAULT,
    modality: str | None = None,
) -> None:
    """/mirage search with text: explanation, best image and hits."""

    async def work(reply: Reply, status: StatusLine) -> None:
        working = "🔎 Searching the atlas and writing an explanation…"
        await status.set(working)
        request = SearchRequest(query=query, k=k, modality=modality)  # type: ignore[arg-type]
        result = await services.engine.search(request, on_queued=_engine_status(status, working))
        await status.set("🖼️ Fetching images…")
        await answers.send_search_answer(reply, services.engine, result, modality=modality)

    header = messages.mark(messages.SEARCH_MARK, query) + (f" · {modality}" if modality else "")
    await run_job(
        interaction,
        services,
        label="search",
        header=header,
        thread_name=messages.thread_name("Search", query),
        work=work,
    )


async def start_more_results(
    interaction: discord.Interaction[Any], services: Services, query: str, *, shown: int, modality: str | None
) -> None:
    """'More results': the next page of first-pass hits, without a new explanation."""
    k = min(shown + K_DEFAULT, K_MAX)

    async def work(reply: Reply, status: StatusLine) -> None:
        working = "🔎 Looking for more results…"
        await status.set(working)
        request = SearchRequest(query=query, k=k, enrich=False, modality=modality)  # type: ignore[arg-type]
        result = await services.engine.search(request, on_queued=_engine_status(status, working))
        await answers.send_more_results(
            reply, services.engine, query, result.hits[shown:], first=shown + 1, modality=modality
        )

    header = f"➕ More results for: {messages.escape(query)}"
    await run_job(
        interaction,
        services,
        label="more",
        header=header,
        thread_name=messages.thread_name("More", query),
        work=work,
    )


async def start_image_search(
    interaction: discord.Interaction[Any],
    services: Services,
    image: discord.Attachment,
    *,
    k: int = K_DEFAULT,
    text_ignored: bool = False,
) -> None:
    """/mirage search with an image: atlas images like it (a text query given too is not used; we say so)."""
    if image.size > IMAGE_MAX_BYTES:
        await interaction.response.send_message(
            f"That image is {image.size / 2**20:.1f} MiB; the limit is {IMAGE_MAX_BYTES // 2**20} MiB.",
            ephemeral=True,
        )
        return
    if not (image.content_type or "").startswith("image/"):
        await interaction.response.send_message(
            f"`{image.filename}` is not an image (type {image.content_type or 'unknown'}); attach a PNG or JPEG.",
            ephemeral=True,
        )
        return

    async def work(reply: Reply, status: StatusLine) -> None:
        await status.set("🖼️ Searching the atlas by your image…")
        data = await image.read()
        result = await services.engine.search_image(data, k=k, filename=image.filename)
        await answers.send_image_hits(reply, services.engine, result.hits, what="your image")

    header = f"🖼️ **Search by image:** {messages.escape(image.filename)}"
    if text_ignored:
        header += "\n-# Searched by the image only; run the command without an image to search by text."
    thread = messages.thread_name("Image search", image.filename)
    await run_job(interaction, services, label="image", header=header, thread_name=thread, work=work)


async def start_atlas_image_search(
    interaction: discord.Interaction[Any], services: Services, atlas_id: str
) -> None:
    """'Use this as a query': the engine searches with that atlas image's stored vector (nothing re-uploaded)."""

    async def work(reply: Reply, status: StatusLine) -> None:
        await status.set(f"🖼️ Searching the atlas by `{atlas_id}`…")
        result = await services.engine.similar(atlas_id, k=K_DEFAULT)  # the image itself is left out
        await answers.send_image_hits(reply, services.engine, result.hits, what=f"`{atlas_id}`")

    header = f"🖼️ **Search by image:** `{atlas_id}`"
    thread = messages.thread_name("Image search", atlas_id)
    await run_job(interaction, services, label="image", header=header, thread_name=thread, work=work)


async def start_compare(
    interaction: discord.Interaction[Any], services: Services, base: str, subtract: str, add: str
) -> None:
    """/mirage compare: base − subtract + add, side by side with base."""

    async def work(reply: Reply, status: StatusLine) -> None:
        await status.set("⚖️ Comparing…")
        result = await services.engine.compare(CompareRequest(query=base, subtract=subtract, add=add, k=1))
        await answers.send_compare_answer(reply, services.engine, result)

    moved = f"{base} − {subtract} + {add}"
    header = f"⚖️ **Compare:** {messages.escape(moved)}"
    await run_job(
        interaction,
        services,
        label="compare",
        header=header,
        thread_name=messages.thread_name("Compare", moved),
        work=work,
    )


async def start_generate(
    interaction: discord.Interaction[Any],
    services: Services,
    prompt: str,
    *,
    seed: int | None = None,
    steps: int | None = None,
    fast: bool = False,
) -> None:
    """/mirage generate: a synthetic image with live progress, beside the nearest real one.

    The request is checked by the contract before anything is queued (e.g. the step range of fast mode).
    """
    try:
        request = GenerateRequest(prompt=prompt, seed=seed, steps=steps, fast=fast)
    except ValidationError as invalid:
        await interaction.response.send_message(messages.invalid_request(invalid), ephemeral=True)
        return

    async def work(reply: Reply, status: StatusLine) -> None:
        working = "🎨 Generating…"
        await status.set(working)
        result = await services.engine.generate(
            request,
            on_queued=_engine_status(status, working),
            on_progress=lambda step, total: status.set(messages.progress(step, total)),
        )
        await status.set("🖼️ Preparing the pictures…")
        await answers.send_generate_answer(reply, services.engine, result)

    header = messages.mark(messages.GENERATE_MARK, prompt)
    await run_job(
        interaction,
        services,
        label="generate",
        header=header,
        thread_name=messages.thread_name("Generate", prompt),
        work=work,
    )
