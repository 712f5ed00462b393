"""Generate: a SYNTHETIC image with live progress, beside the nearest real atlas image."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import discord
from pydantic import ValidationError

from engine.contract import SYNTHETIC_LABEL, GenerateRequest, GenerateResponse

from ..engine_client import EngineClient
from ..render import text
from ..render.images import ImageFile
from ..requests import Generate
from ..ui import views
from . import memory
from .context import Context
from .pictures import fetch_images, footer, picture_file
from .reply import Reply
from .run import engine_status, run_job
from .status import StatusLine


async def generate(interaction: discord.Interaction[Any], ctx: Context, request: Generate) -> None:
    """/mirage generate (or New seed). The contract checks the request before anything is queued (e.g. the
    step range of fast mode) and its words reach the user."""
    try:
        engine_request = GenerateRequest(
            prompt=request.prompt, seed=request.seed, steps=request.steps, fast=request.fast
        )
    except ValidationError as invalid:
        await interaction.response.send_message(text.invalid_request(invalid), ephemeral=True)
        return

    async def work(reply: Reply, status: StatusLine) -> None:
        working = "🎨 Generating…"
        await status.set(working)
        result = await ctx.engine.generate(
            engine_request,
            on_queued=engine_status(status, working),
            on_progress=lambda step, total: status.set(text.progress(step, total)),
        )
        await status.set("🖼️ Preparing the pictures…")
        await send_generate_answer(reply, ctx.engine, result)
        nearest = [result.nearest.id] if result.nearest else []
        await memory.remember_thread(ctx, reply.target, command="generate", query=request.prompt, hit_ids=nearest)

    await run_job(
        interaction, ctx, label="generate", header=text.mark(text.GENERATE_MARK, request.prompt),
        thread_name=text.thread_name("Generate", request.prompt), work=work,
        record=engine_request.model_dump(exclude_none=True),
    )


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
        panels: tuple[tuple[bytes, str, str], ...] = (synthetic,)
        if nearest is not None and nearest_bytes is not None:
            panels += ((nearest_bytes, f"Nearest real image · {nearest.id}", nearest.caption),)
        alt = f"{SYNTHETIC_LABEL} image from the prompt: {result.prompt_used}"
        files = await asyncio.to_thread(picture_file, "synthetic", panels, alt, reply.upload_limit)
    name = files[0].filename if files else None
    lines = [f"🧪 **Left: a {SYNTHETIC_LABEL} image** made by a diffusion model. It is not a real patient."]
    if nearest is not None:
        lines.append("**Right: the nearest real atlas image**\n" + text.hit_block(nearest, "R", name))
    await reply.send("\n".join(lines))
    settings = f"seed {result.seed} · {result.steps} steps · guidance {result.guidance:g}" + (
        " · fast" if result.fast else ""
    )
    last = footer(text.mark(text.GENERATE_MARK, result.prompt), settings)
    view = views.generate_view(steps=result.steps, fast=result.fast, nearest_id=nearest.id if nearest else None)
    await reply.send(last, files=files, view=view)
