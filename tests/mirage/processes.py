"""Start the supervisor as a real process and read its output as it comes (for the tests in this folder)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STANDIN = str(HERE / "standin_child.py")


def standin(mode: str, state: Path, arg: str = "") -> list[str]:
    """The argv of a stand-in child (see standin_child.py)."""
    return [sys.executable, STANDIN, mode, str(state), *([arg] if arg else [])]


class Watched:
    """A process whose output lines are collected (with arrival times) by a reader thread."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO_ROOT), **(env or {})}
        self.proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[tuple[float, str]] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append((time.time(), line.rstrip("\n")))
                self._changed.notify_all()

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> tuple[float, str]:
        """The first line matching `pattern` (regex) and when it arrived; fails with the output so far."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for when, line in self.lines:
                    if re.search(pattern, line):
                        return when, line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._changed.wait(0.5)):
                    raise AssertionError(f"no line matching {pattern!r} in:\n{self.text}")
                self._changed.wait(min(left, 0.5))

    def terminate_and_wait(self, timeout: float = 30.0) -> int:
        """SIGTERM, as systemd or docker would send; the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def supervise(children: list[dict], timing: dict | None = None) -> Watched:
    """tests/mirage/run_supervisor.py over `children`, as a real process."""
    config = json.dumps({"children": children, "timing": timing or {}})
    return Watched([sys.executable, str(HERE / "run_supervisor.py"), config])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
