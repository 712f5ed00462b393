"""Real engine and bot processes for end-to-end tests and benchmarks: start, wait until ready, stop, kill.

Each process writes its output to a log file; a failed start raises with the log's tail, so a broken
engine or bot shows why instead of a timeout.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Bot settings for tests and benchmarks: quick engine retries and progress edits, no per-user cooldown
# (tests fire commands back to back).
FAST_BOT_ENV = {
    "MIRAGE_USER_COOLDOWN_S": "0",
    "MIRAGE_PROGRESS_INTERVAL_S": "0.3",
    "MIRAGE_ENGINE_RETRIES": "1",
    "MIRAGE_ENGINE_RETRY_BASE_S": "0.2",
    "MIRAGE_ENGINE_RETRY_MAX_S": "1",
    "MIRAGE_ENGINE_CONNECT_TIMEOUT_S": "2",
}
ENGINE_READY_TIMEOUT_S = float(os.environ.get("MIRAGE_E2E_ENGINE_TIMEOUT", "600"))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGKILL when the test process dies, however it dies
    (a CI runner killing pytest must not leave an engine behind)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


@dataclass
class ManagedProcess:
    """A child process with its log file; stop() is safe to call twice."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        """Start it (new process group, output to the log file)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        log.write(f"\n===== start {self.name}: {' '.join(self.argv)} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            self.argv,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL at once (a crash, as far as the others can tell)."""
        if self.alive:
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`."""
        if not self.alive:
            return
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of its output."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _failed_components(readyz_body: bytes) -> dict[str, str]:
    """Components the engine's /readyz reports as failed (loading will not fix them)."""
    try:
        detail = json.loads(readyz_body).get("detail") or {}
    except (ValueError, AttributeError):
        return {}
    return {name: text for name, text in detail.items() if str(text).startswith("failed")}


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIRAGE_")}
    env.update({"PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    env.update(extra)
    return env


@dataclass
class EngineProcess:
    """`python -m engine serve` in the tiny profile on a fixed port (so a restart keeps its url)."""

    data_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    extra_env: dict[str, str] = field(default_factory=dict)
    process: ManagedProcess | None = None

    @classmethod
    def running_at(cls, url: str, token: str) -> EngineProcess:
        """An engine someone else started (not managed: kill/stop do nothing; `managed` is False)."""
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        return cls(data_dir=Path("."), log_path=Path("/dev/null"), port=port, token=token)

    @property
    def managed(self) -> bool:
        """Whether this object started the process (and so may kill and restart it)."""
        return self.process is not None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = ENGINE_READY_TIMEOUT_S) -> EngineProcess:
        """Start and wait until GET /readyz answers 200 (the first start builds tiny models and the atlas)."""
        env = _child_env(
            {
                "MIRAGE_PROFILE": "tiny",
                "MIRAGE_DATA_DIR": str(self.data_dir),
                "MIRAGE_ENGINE_TOKEN": self.token,
                "MIRAGE_DEVICE": "cpu",
                **self.extra_env,
            }
        )
        argv = [sys.executable, "-m", "engine", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = ManagedProcess("engine", argv, env, self.log_path).start()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Poll /readyz; raise with the log tail if the process dies or the time runs out."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.process is not None
            if not self.process.alive:
                raise RuntimeError(
                    f"engine exited with {self.process.proc.returncode}:\n{self.process.log_tail()}"
                )  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                body = exc.read()
                last = f"{exc.code} {body[:500]!r}"
                failed = _failed_components(body)
                if failed:
                    raise RuntimeError(
                        f"engine cannot get ready: {failed}\n{self.process.log_tail()}"
                    ) from None
            except OSError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise TimeoutError(
            f"engine not ready after {timeout:.0f}s (last: {last}):\n{self.process.log_tail()}"
        )  # type: ignore[union-attr]

    def kill(self) -> None:
        """Crash it (SIGKILL)."""
        if self.process is not None:
            self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@dataclass
class BotProcess:
    """The real bot (`bot.__main__`), started through `tests.e2e.launch_bot`, which points discord.py's REST and
    gateway at the stand-in named in `discord_env` (the bot's own code knows nothing of it)."""

    discord_env: dict[str, str]
    engine_url: str
    engine_token: str
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    process: ManagedProcess | None = None

    def start(self) -> BotProcess:
        """Start the bot process (the caller waits on the stand-in for its READY and command sync)."""
        env = _child_env(
            {
                **self.discord_env,
                "MIRAGE_ENGINE_URL": self.engine_url,
                "MIRAGE_ENGINE_TOKEN": self.engine_token,
                "MIRAGE_LOG_LEVEL": "INFO",
                **self.extra_env,
            }
        )
        argv = [sys.executable, "-m", "tests.e2e.launch_bot"]
        self.process = ManagedProcess("bot", argv, env, self.log_path).start()
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.alive

    def log_tail(self, lines: int = 40) -> str:
        return self.process.log_tail(lines) if self.process else "(not started)"

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def engine_data_dir(cache_dir: Path, workdir: Path) -> Path:
    """A fresh engine MIRAGE_DATA_DIR under `workdir` that links the shared test cache's tiny models and
    demo atlas (built once per cache, the same ones tests/conftest.py uses). The atlas store itself is the
    engine's own (indexing the 240-image demo atlas takes seconds), so engines never share a store lock
    and an atlas never outlives the CLIP it was indexed with."""
    from engine.tiny.demo_atlas import build_demo_atlas

    build_demo_atlas(cache_dir / "demo-roco")  # must exist before it is linked (the build renames into place)
    (cache_dir / "models").mkdir(parents=True, exist_ok=True)  # tiny models are built in subdirectories
    data_dir = workdir / "engine-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for shared in ("models", "demo-roco"):
        link = data_dir / shared
        if not link.is_symlink():
            link.symlink_to(cache_dir / shared, target_is_directory=True)
    return data_dir
