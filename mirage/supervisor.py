"""Run child processes under supervision: ordered start, prefixed output, restart with backoff, clean stop.

A child is described by a `ChildSpec` (name, command line, environment, an optional readiness check,
and the child it must wait for). `Supervisor.run()` starts them, copies every line they print to our
stdout as `name | line`, restarts a child that exits on its own (waiting longer after each quick
crash), and on SIGINT/SIGTERM sends SIGTERM to the children, dependents first, so each can drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TextIO

# A child that exits with this status was misconfigured (both `engine serve` and `bot` return 2 for
# invalid settings or a refused token, the engine also for a port already in use): restarting cannot
# help, so the whole stack stops and says so.
CONFIG_ERROR_EXIT = 2

# (ready, detail): whether a child is ready, and what it says while it is not.
ReadyCheck = Callable[[], Awaitable[tuple[bool, str]]]


@dataclass(frozen=True)
class Backoff:
    """Delay before restart n (1, 2, …): `first_s * factor**(n-1)`, at most `max_s`.

    A child that ran for `reset_after_s` before exiting counts as healthy again: the next delay
    starts over from `first_s`, so one crash a day never waits the maximum.
    """

    first_s: float = 1.0
    factor: float = 2.0
    max_s: float = 30.0
    reset_after_s: float = 60.0

    def delay(self, restart: int) -> float:
        """Seconds to wait before restart number `restart` (1-based)."""
        return min(self.max_s, self.first_s * self.factor ** max(0, restart - 1))


@dataclass
class ChildSpec:
    """One supervised process."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    ready: ReadyCheck | None = None  # how dependents learn that this child is ready
    after: str | None = None  # name of the child that must be ready before this one starts


@dataclass
class Timing:
    """Supervisor clocks; tests shorten them."""

    backoff: Backoff = field(default_factory=Backoff)
    ready_poll_s: float = 0.5
    waiting_note_s: float = 30.0  # how often to repeat "still waiting for …"
    stop_grace_s: float = 30.0  # per child, between SIGTERM and SIGKILL


class Supervisor:
    """Starts, watches, restarts and stops the children in `specs` (started in order, stopped in reverse)."""

    def __init__(self, specs: list[ChildSpec], *, timing: Timing | None = None, out: TextIO | None = None):
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must be unique, got {names}")
        for spec in specs:
            if spec.after is not None and spec.after not in names:
                raise ValueError(f"child {spec.name!r} waits for unknown child {spec.after!r}")
        self.specs = specs
        self.timing = timing or Timing()
        self.out = out or sys.stdout
        self.restarts: dict[str, int] = dict.fromkeys(names, 0)
        self._width = max([len(n) for n in names] + [len("mirage")])
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._ready: dict[str, asyncio.Event] = {}
        self._stopping: asyncio.Event | None = None
        self._force: asyncio.Event | None = None
        self._exit_code = 0

    # 1. the whole life: start everything, wait for a stop, stop in reverse order
    async def run(self) -> int:
        """Supervise until SIGINT/SIGTERM (exit 0) or a child's configuration error (exit 2)."""
        self._stopping, self._force = asyncio.Event(), asyncio.Event()
        self._ready = {spec.name: asyncio.Event() for spec in self.specs}
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)
        keepers = [asyncio.create_task(self._keep_running(spec)) for spec in self.specs]
        try:
            await self._stopping.wait()
            await self._stop_children()
            await asyncio.gather(*keepers, return_exceptions=True)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        self.say("stopped")
        return self._exit_code

    def _on_signal(self, signum: int) -> None:
        assert self._stopping is not None and self._force is not None
        if self._stopping.is_set():  # a second Ctrl-C: the operator does not want to wait
            self.say(f"{signal.Signals(signum).name} again: killing the children now")
            self._force.set()
            return
        self.say(f"{signal.Signals(signum).name}: stopping (SIGTERM to each child; they finish what they are doing)")
        self._stopping.set()

    # 2. one child: wait for its dependency, then run it again and again until the stack stops
    async def _keep_running(self, spec: ChildSpec) -> None:
        assert self._stopping is not None
        if spec.after is not None and not await self._wait_until_ready(spec):
            return
        restart = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            status = await self._run_once(spec)
            if self._stopping.is_set():
                return
            ran_s = time.monotonic() - started
            if status == CONFIG_ERROR_EXIT:
                self.say(
                    f"{spec.name} exited with status {status}: a configuration error (invalid settings, a refused "
                    "token, or a port already in use; its lines above say which); not restarting: fix it and run again"
                )
                self._exit_code = CONFIG_ERROR_EXIT
                self._stopping.set()
                return
            restart = 1 if ran_s >= self.timing.backoff.reset_after_s else restart + 1
            self.restarts[spec.name] += 1
            delay = self.timing.backoff.delay(restart)
            self.say(
                f"{spec.name} exited with {describe_exit(status)} after {ran_s:.1f} s; "
                f"restarting in {delay:.1f} s (restart {self.restarts[spec.name]})"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _run_once(self, spec: ChildSpec) -> int:
        """Start the child, copy its output, and start watching its readiness; its exit status."""
        proc = await asyncio.create_subprocess_exec(
            *spec.argv,
            env=spec.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # its own process group: a terminal's Ctrl-C reaches only us, and we decide how children stop
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._procs[spec.name] = proc
        self.say(f"{spec.name} started (pid {proc.pid}): {' '.join(spec.argv)}")
        assert self._stopping is not None
        if self._stopping.is_set():  # the stop began while it was starting: it may have missed it
            _signal_group(proc, signal.SIGTERM)
        assert proc.stdout is not None
        pump = asyncio.create_task(self._copy_output(spec.name, proc.stdout))
        watch = asyncio.create_task(self._watch_ready(spec, proc)) if spec.ready else None
        status = await proc.wait()
        if watch is not None:
            watch.cancel()
        await pump
        return status

    # 3. readiness: a dependency's check, polled until it says yes
    async def _watch_ready(self, spec: ChildSpec, proc: asyncio.subprocess.Process) -> None:
        assert spec.ready is not None
        event = self._ready[spec.name]
        while not event.is_set() and proc.returncode is None:
            ok, _ = await _safe_check(spec.ready)
            if ok:
                self.say(f"{spec.name} is ready")
                event.set()
                return
            await asyncio.sleep(self.timing.ready_poll_s)

    async def _wait_until_ready(self, spec: ChildSpec) -> bool:
        """Wait until `spec.after` is ready; False when the stack stops first."""
        assert spec.after is not None and self._stopping is not None
        dependency = next(s for s in self.specs if s.name == spec.after)
        self.say(f"{spec.name} waits until {spec.after} is ready")
        next_note = time.monotonic() + self.timing.waiting_note_s
        while not self._ready[spec.after].is_set():
            if self._stopping.is_set():
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready[spec.after].wait(), self.timing.ready_poll_s)
            if time.monotonic() >= next_note and dependency.ready is not None:
                _, detail = await _safe_check(dependency.ready)
                self.say(f"{spec.name} still waiting for {spec.after}: {detail}")
                next_note = time.monotonic() + self.timing.waiting_note_s
        return not self._stopping.is_set()

    # 4. stopping: dependents first, each gets SIGTERM and a grace period, then SIGKILL
    async def _stop_children(self) -> None:
        assert self._force is not None
        for spec in reversed(self.specs):
            proc = self._procs.get(spec.name)
            if proc is None or proc.returncode is not None:
                continue
            self.say(f"stopping {spec.name} (SIGTERM, up to {self.timing.stop_grace_s:.0f} s)")
            _signal_group(proc, signal.SIGTERM)
            waiter = asyncio.create_task(proc.wait())
            forced = asyncio.create_task(self._force.wait())
            await asyncio.wait({waiter, forced}, timeout=self.timing.stop_grace_s, return_when="FIRST_COMPLETED")
            forced.cancel()
            if proc.returncode is None:
                self.say(f"{spec.name} did not stop in time; killing it")
                _signal_group(proc, signal.SIGKILL)
            status = await waiter
            self.say(f"{spec.name} stopped ({describe_exit(status)})")

    # output
    async def _copy_output(self, name: str, stream: asyncio.StreamReader) -> None:
        """Copy a child's output line by line with its prefix; progress bars (\\r) become lines too."""
        pending = ""
        while chunk := await stream.read(65536):
            pending += chunk.decode(errors="replace")
            *lines, pending = re.split(r"\r\n|\r|\n", pending)
            for line in lines:
                if line.strip():
                    self._write(name, line)
        if pending.strip():
            self._write(name, pending)

    def say(self, message: str) -> None:
        """A line from the supervisor itself."""
        self._write("mirage", message)

    def _write(self, name: str, line: str) -> None:
        self.out.write(f"{name:<{self._width}} | {line}\n")
        self.out.flush()


def describe_exit(status: int) -> str:
    """"status 3", or "signal SIGTERM" for a child ended by a signal (uvicorn re-raises SIGTERM after its
    graceful shutdown, so an engine that drained and stopped reports that)."""
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-status).name}"
    return f"status {status}"


async def _safe_check(check: ReadyCheck) -> tuple[bool, str]:
    try:
        return await check()
    except Exception as exc:  # a readiness probe must never take the supervisor down
        return False, f"{type(exc).__name__}: {exc}"


def _signal_group(proc: asyncio.subprocess.Process, signum: int) -> None:
    """Signal the child's whole process group (its own helpers too); it may have just exited."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


def _die_with_parent() -> None:
    """In the child before exec (Linux): get SIGKILL if the supervisor itself is killed, so no orphan
    engine keeps holding the GPU and the port."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
