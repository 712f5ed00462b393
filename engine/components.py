"""The parts one engine process loads (CLIP, atlas, LLM, diffusion) and where each one stands.

A component's status follows from what it holds — a loaded value, an error, the time loading began,
a reason it is switched off — never from a flag kept beside it, so readiness cannot disagree with
what the pipelines find.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

T = TypeVar("T")
Status = Literal["pending", "loading", "loaded", "failed", "disabled"]
NAMES = ("clip", "atlas", "llm", "diffusion")
# Without these nothing can be answered; the others only add to an answer (or serve one route).
ESSENTIAL = ("clip", "atlas")


@dataclass
class Component(Generic[T]):
    """One loadable part. Written by the loader thread only; each field write is atomic."""

    name: str
    off_reason: str | None = None  # set when the settings switch it off
    value: T | None = None  # written last when loading succeeds
    error: str | None = None  # the failure, with its detail (log and authenticated readers only)
    loading_since: float | None = None
    doing: str = ""  # what loading is busy with now; no paths or exception text
    summary: str = ""  # what was loaded
    seconds: float | None = None

    @property
    def status(self) -> Status:
        """Derived from what the component holds."""
        if self.off_reason is not None:
            return "disabled"
        if self.value is not None:
            return "loaded"
        if self.error is not None:
            return "failed"
        return "loading" if self.loading_since is not None else "pending"

    @property
    def may_come(self) -> bool:
        """True while it may still load (so a retry can help)."""
        return self.status in ("pending", "loading")

    def begin(self, doing: str = "") -> None:
        """Mark the start of loading."""
        self.error, self.doing, self.loading_since = None, doing, time.perf_counter()

    def finish(self, value: T, summary: str) -> None:
        """Mark success: the value is written last, so readers see "loaded" only once all is set."""
        started = self.loading_since or time.perf_counter()
        self.summary, self.seconds = summary, round(time.perf_counter() - started, 3)
        self.value = value

    def set_doing(self, doing: str) -> None:
        """Say what loading is busy with now (shown by readiness)."""
        self.doing = doing

    def fail(self, error: str) -> None:
        """Mark failure with its reason."""
        self.error = error or "failed"

    def detail(self, *, private: bool = True) -> str:
        """"status: what" for readiness; without `private`, no error text and nothing loaded by path."""
        status = self.status
        if status == "disabled":
            what = self.off_reason or ""
        elif status == "loaded":
            what = self.summary if private else ""
        elif status == "failed":
            what = (self.error or "") if private else "see the engine log"
        else:
            what = self.doing
        return f"{status}: {what}" if what else status

    def why_not(self) -> str:
        """Why the component cannot be used now, for an error message."""
        status = self.status
        if status == "failed":
            return f"unavailable ({self.error})"
        if status == "disabled":
            return f"disabled ({self.off_reason})"
        if status == "loading":
            return f"still loading ({self.doing})" if self.doing else "still loading"
        return "not loaded yet"
