"""Graceful drain on SIGTERM, so a load balancer can take an engine out without failing a request.

1. Stop taking work: /readyz answers 503 (draining), new /v1 requests 503 with Retry-After, and the
   jobs still waiting in the queue are answered 503 at once, so clients retry on another engine.
2. Let the running jobs finish, for up to MIRAGE_DRAIN_GRACE_S; then cancel what is left (generation
   stops between steps; those requests are answered 503 too).
3. Then shut the server down as usual (in-flight responses are sent, the workers stop, the runtime
   closes) and exit 0. /healthz answers 200 throughout: the process is alive, only leaving.
A second SIGTERM, or SIGINT, skips the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI

logger = logging.getLogger(__name__)


async def drain(app: FastAPI, grace_s: float) -> bool:
    """Steps 1 and 2 above; True when every running job finished within the grace period."""
    queue = app.state.work_queue
    queue.close_intake()
    logger.info("draining: refusing new work; %d running job(s) get %g s to finish", queue.running, grace_s)
    finished = await asyncio.to_thread(queue.wait_idle, grace_s)  # blocks: not on the event loop
    if not finished:
        logger.warning("draining: %d job(s) still running after %g s; cancelling them", queue.running, grace_s)
        queue.cancel_running()
    return finished


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with SIGTERM meaning "drain, then stop" (see the module doc)."""

    def __init__(self, config: uvicorn.Config, app: FastAPI, grace_s: float) -> None:
        super().__init__(config)
        self.engine_app, self.grace_s = app, grace_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self.draining = False

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve until stopped (the loop is kept, so a signal can start the drain on it)."""
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """The first SIGTERM starts the drain; anything else is uvicorn's usual way out."""
        if sig == signal.SIGTERM and not self.draining and not self.should_exit and self._loop is not None:
            # a signal handler may only hand work to the loop; the drain itself runs there. Not
            # recorded as a captured signal, so uvicorn does not re-raise it: the exit status is 0.
            self.draining = True
            self._loop.call_soon_threadsafe(self._start_drain)
            return
        super().handle_exit(sig, frame)

    def _start_drain(self) -> None:
        task = asyncio.ensure_future(drain(self.engine_app, self.grace_s))
        task.add_done_callback(self._drained)

    def _drained(self, task: asyncio.Task[bool]) -> None:
        if task.cancelled() or task.exception() is not None:
            logger.error("draining failed; shutting down now", exc_info=None if task.cancelled() else task.exception())
        self.should_exit = True  # uvicorn now stops as usual: in-flight answers are sent, then the lifespan ends


def serve(app: FastAPI, *, host: str, port: int, log_level: str, grace_s: float) -> bool:
    """Run `app` until SIGINT, or SIGTERM followed by a drain of at most `grace_s` seconds.
    False when the server never started (e.g. the port is taken)."""
    # after the drain only in-flight answers remain; do not wait on a stuck connection for ever
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=10)
    server = DrainingServer(config, app, grace_s)
    # uvicorn re-raises a SIGINT it shut down for; stopping on Ctrl-C is the normal way out (as uvicorn.run)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return server.started
