"""The life of one request, from command, button, modal or mention to answer.

1. check the server's limits (channels, roles) and the queue's door (per-user cap, cooldown);
2. acknowledge at once (Discord wants an answer within 3 s), and in a burst let the others' acknowledgements
   go before this job's follow-ups (bot/acks.py);
3. open the place to answer in (a thread on the command's message) with a status line and a cancel button;
4. wait for a fair turn, showing the place in line (exact for the first few, a coarse "about 400 ahead,
   ~6 min" further back), then ask the engine, showing its progress;
5. post the answer, or a friendly line saying what went wrong. The queue slot is freed in every case (and
   early, once the flow has made its last engine call: bot/flows/slot.py), and the job's record in the
   database says how it ended (so its buttons know after a restart).

Every REST call of a job goes through the bot's REST budget (bot/ratelimit.py, installed on the
client at the first job): URGENT once the job holds an engine slot, NORMAL while it waits.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import discord

from .. import acks, ratelimit
from ..access import access_denied
from ..engine_client import EngineError
from ..errors import SORRY
from ..metrics import METRICS
from ..queue import Job, JobCancelled, Place, QueueRejected
from ..render import text
from ..ui.views import cancel_view
from . import memory, slot
from .context import Context
from .reply import Reply
from .status import StatusLine

log = logging.getLogger(__name__)

Work = Callable[[Reply, StatusLine], Awaitable[None]]


async def run_job(
    interaction: discord.Interaction[Any],
    ctx: Context,
    *,
    label: str,
    header: str,
    thread_name: str,
    work: Work,
    record: Mapping[str, Any] | None = None,
) -> None:
    """Steps 1–5 above for one interaction; `work` asks the engine and posts the answer.

    `record` is the request as kept in the database (JSON), for the job's buttons after a restart.
    """
    # 1. limits
    _use_rest_budget(getattr(interaction, "client", None), ctx)
    denied = access_denied(interaction, ctx.settings)
    if denied is not None:
        METRICS.finished(label, "denied")
        await interaction.response.send_message(denied, ephemeral=True)
        return
    try:
        job = ctx.queue.submit(interaction.user.id, label)
    except QueueRejected as rejected:
        METRICS.finished(label, "rejected")
        await interaction.response.send_message(str(rejected), ephemeral=True)
        return
    async with _settled_at_end(ctx, job), _job_priority(job):
        # 2. acknowledge
        await interaction.response.defer(thinking=True)
        METRICS.acknowledged(label, getattr(interaction, "created_at", None))
        gate = acks.gate_of(getattr(interaction, "client", None))
        if gate is not None:  # in a burst, the others' acknowledgements go before this job's follow-ups
            await gate.acks_first()
        await interaction.edit_original_response(
            content=header, allowed_mentions=discord.AllowedMentions.none()
        )
        # 3. where to answer
        reply = await Reply.open(interaction, thread_name)
        # 4 and 5
        await _run_queued(ctx, job, label, reply, record, work)


async def run_in_thread(
    thread: Any, user_id: int, ctx: Context, *, label: str, work: Work, record: Mapping[str, Any] | None = None
) -> None:
    """Steps 1 and 3–5 for a request that came as a message in `thread` (an @mention): no interaction to
    acknowledge; the status line and the answer go to the thread itself."""
    _use_rest_budget(getattr(thread, "_state", None), ctx)
    try:
        job = ctx.queue.submit(user_id, label)
    except QueueRejected as rejected:
        METRICS.finished(label, "rejected")
        await thread.send(f"<@{user_id}> {rejected}", allowed_mentions=discord.AllowedMentions(users=True))
        return
    async with _settled_at_end(ctx, job), _job_priority(job):
        await _run_queued(ctx, job, label, Reply.in_thread(thread), record, work)


@asynccontextmanager
async def _settled_at_end(ctx: Context, job: Job) -> AsyncIterator[None]:
    """Free the job's queue slot however the block ends, then mark it settled."""
    try:
        yield
    finally:
        ctx.queue.close(job)
        job.settled.set()  # the last word is written: a shutdown waiting for it may go on


def _use_rest_budget(owner: Any, ctx: Context) -> None:
    """Put the client's REST calls under one `RestBudget` from the settings (once per client)."""
    http = getattr(owner, "http", None)
    if http is not None and ratelimit.budget_of(http) is None and hasattr(http, "request"):
        settings = ctx.settings
        ratelimit.install(http, ratelimit.RestBudget(settings.discord_rest_per_s, settings.progress_rest_share))


@asynccontextmanager
async def _job_priority(job: Job) -> AsyncIterator[None]:
    """The job's REST calls are urgent once it holds an engine slot (and after it freed it early, and for its
    last word); within a level, older jobs' calls go first."""

    def level() -> int:
        return ratelimit.NORMAL if job.state == "waiting" else ratelimit.URGENT

    with ratelimit.priority(level, order=ratelimit.new_order()):
        yield


def place_text(place: Place) -> str:
    """The status line for a place in line: exact near the front, coarse further back."""
    if place.exact or place.ahead < 10:
        return text.queue_place(place.number)
    step = 10 if place.ahead < 100 else 50 if place.ahead < 1000 else 100
    about = max(step, round(place.ahead / step) * step)
    if place.eta_s is None:
        wait = ""
    elif place.eta_s < 60:
        wait = ", under a minute"
    else:
        wait = f", ~{math.ceil(place.eta_s / 60)} min"
    return f"⏳ About {about} requests ahead of yours{wait}. This line updates now and then."


async def _open_status(
    ctx: Context, job: Job, reply: Reply, label: str, record: Mapping[str, Any] | None
) -> StatusLine:
    message = await reply.send(place_text(ctx.queue.place(job)), view=cancel_view(job), notes=False)
    thread_id = getattr(reply.target, "id", None)
    await memory.save_job(ctx, job, label, record or {}, message_id=getattr(message, "id", None), thread_id=thread_id)
    return StatusLine(message, min_interval_s=ctx.settings.progress_interval_s)


async def _run_queued(
    ctx: Context, job: Job, label: str, reply: Reply, record: Mapping[str, Any] | None, work: Work
) -> None:
    """Steps 3 (the status line) to 5: a fair turn, the work under one deadline, and the outcome on the
    status line."""
    status = await _open_status(ctx, job, reply, label, record)

    async def timed_work() -> None:
        with slot.freeing(lambda: ctx.queue.release_slot(job)):  # the flow frees it after its last engine call
            async with asyncio.timeout(ctx.settings.job_timeout_s):
                await work(reply, status)

    outcome = "failed"
    try:
        await ctx.queue.run(job, timed_work, on_place=lambda place: status.set(place_text(place)))
        await status.finish("✅ Done.", view=None)
        METRICS.finished(label, "ok")
        outcome = "done"
    except JobCancelled:
        if job.interrupted:  # the bot is shutting down (bot/drain.py): say so, so they know to ask again
            METRICS.finished(label, "interrupted")
            outcome = "interrupted"
            await status.finish(text.STOPPED_BY_RESTART, view=None)
        else:
            METRICS.finished(label, "cancelled")
            outcome = "cancelled"
            await status.finish("🛑 Cancelled.", view=None)
    except EngineError as error:
        METRICS.finished(label, "engine_error")
        log.info("job %s (%s) failed: %s [%s, status %s]", job.id, label, error, error.code, error.status)
        await status.finish(f"❌ {text.friendly_error(error)}", view=None)
    except TimeoutError:
        METRICS.finished(label, "timeout")
        log.info("job %s (%s) ran past %g s", job.id, label, ctx.settings.job_timeout_s)
        limit = ctx.settings.job_timeout_s
        await status.finish(f"❌ This took longer than {limit:g} s, so I stopped. Please try again later.", view=None)
    except Exception:
        METRICS.finished(label, "error")
        await status.finish(f"❌ {SORRY}", view=None)  # leave no "working…" line; the edge logs and tells
        raise
    finally:
        await memory.finish_job(ctx, job, outcome)


def engine_status(status: StatusLine, working: str) -> Callable[[int], Awaitable[None]]:
    """A hook showing the engine's own queue place, then `working`."""
    return lambda position: status.set(text.engine_place(position, working))
