"""Compare: the top atlas image for a query beside the one for query − subtract + add."""

from __future__ import annotations

import asyncio
from typing import Any

import discord

from engine.contract import CompareRequest, CompareResponse

from ..engine_client import EngineClient
from ..render import text
from ..render.images import ImageFile, trim
from ..requests import Compare
from ..ui import views
from . import memory
from .context import Context
from .pictures import fetch_images, footer, picture_file
from .reply import Reply
from .run import run_job
from .status import StatusLine


async def compare(interaction: discord.Interaction[Any], ctx: Context, request: Compare) -> None:
    """/mirage compare: base − subtract + add, side by side with base."""
    base, subtract, add = request.base, request.subtract, request.add
    moved = f"{base} − {subtract} + {add}"

    async def work(reply: Reply, status: StatusLine) -> None:
        await status.set("⚖️ Comparing…")
        result = await ctx.engine.compare(CompareRequest(query=base, subtract=subtract, add=add, k=1))
        await send_compare_answer(reply, ctx.engine, result)
        shown = [hits.hits[0].id for hits in (result.original, result.modified) if hits.hits]
        await memory.remember_thread(ctx, reply.target, command="compare", query=moved, hit_ids=shown)

    await run_job(
        interaction, ctx, label="compare", header=f"⚖️ **Compare:** {text.escape(moved)}",
        thread_name=text.thread_name("Compare", moved), work=work,
        record={"base": base, "subtract": subtract, "add": add},
    )


async def send_compare_answer(reply: Reply, engine: EngineClient, result: CompareResponse) -> None:
    """One side-by-side picture: top image for the base query and for base − subtract + add."""
    moved = f"{result.query} − {result.subtract} + {result.add}"
    left = result.original.hits[0] if result.original.hits else None
    right = result.modified.hits[0] if result.modified.hits else None
    if left is None or right is None:
        await reply.send(footer("⚖️ The atlas returned no image for one of the two queries."))
        return
    files: list[ImageFile] = []
    name = None
    if reply.can_attach:
        left_bytes, right_bytes = await fetch_images(engine, [left, right])
        if left_bytes and right_bytes:
            alt = f"Left: {left.caption} | Right: {right.caption}"
            panels = ((left_bytes, result.query, left.caption), (right_bytes, moved, right.caption))
            files = await asyncio.to_thread(picture_file, "compare", panels, alt, reply.upload_limit)
            name = files[0].filename if files else None
    body = "\n\n".join(
        [
            f"⚖️ **Compare:** {text.escape(moved)}",
            f"**Left: {text.escape(trim(result.query, 200))}**\n" + text.hit_block(left, "L", name),
            f"**Right: {text.escape(trim(moved, 200))}**\n" + text.hit_block(right, "R", name),
        ]
    )
    await reply.send(body)
    await reply.send(footer(""), files=files, view=views.compare_view(left.id, right.id))
