"""A real OpenAI-compatible server on loopback (`transformers serve`) and a tiny TCP proxy before it.

The server is transformers' own (`transformers serve`, FastAPI + uvicorn), serving copies of the tiny
LLM from local directories; nothing in it is written by MIRAGE. The proxy only moves bytes: it can
hold a request back (a slow server), answer a status itself (a gateway whose backend is down), or
stop listening (the server is gone), and it notices when a client hangs up.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.e2e.processes import free_port  # also what tests take from here: a port that refuses connections

# Renders exactly Dolly's instruction format (which the tiny LLM saw in training): the server's
# chat template then gives the model the same text the engine's Dolly prompt would.
DOLLY_CHAT_TEMPLATE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes "
    "the request.\n\n### Instruction:\n{% for m in messages %}{% if m['role'] == 'user' %}"
    "{{ m['content'] }}\n\n{% endif %}{% endfor %}### Response:\n{{ '' }}"  # (newlines after a tag are trimmed)
)


def served_copies(tiny_llm: str | Path, dest: Path) -> tuple[Path, Path]:
    """Two copies of the tiny LLM as a server would host them: (plain, chat).

    Both sample (transformers serve samples only when the model's generation config says so, as
    vLLM does by default); "chat" also carries a chat template, "plain" has none.
    """
    plain, chat = dest / "tiny-llm-plain", dest / "tiny-llm-chat"
    for copy in (plain, chat):
        if not copy.exists():
            shutil.copytree(tiny_llm, copy)
            config_path = copy / "generation_config.json"
            config = json.loads(config_path.read_text())
            config_path.write_text(json.dumps(config | {"do_sample": True}, indent=2))
    (chat / "chat_template.jinja").write_text(DOLLY_CHAT_TEMPLATE)
    return plain, chat


@contextmanager
def transformers_serve(log_path: Path, *, startup_s: float = 180.0) -> Iterator[str]:
    """`transformers serve` on 127.0.0.1 (CPU, offline, models loaded on first request); yields its URL."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "transformers"), "serve", "--host", "127.0.0.1",
               "--port", str(port), "--device", "cpu", "--log-level", "warning"]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + startup_s
            while not _healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"transformers serve did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class LoopbackProxy:
    """A TCP proxy on 127.0.0.1 to `upstream` (host, port), run on its own event loop thread.

    `delay_s` holds every new connection back before anything is forwarded; `status` makes the
    proxy answer each request itself with that HTTP status; `stop()` closes the listener, so
    connections are refused from then on. `hangups` counts clients that closed while held back.
    """

    def __init__(self, upstream: tuple[str, int], *, delay_s: float = 0.0, status: int | None = None) -> None:
        self.upstream, self.delay_s, self.status = upstream, delay_s, status
        self.hangups = 0
        self._open: set[asyncio.StreamWriter] = set()  # both sides of every open connection
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop
        ).result(10)

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Drop every open connection and stop listening, as a server that dies does: new
        connections are refused."""
        async def close() -> None:
            self._server.close()
            for writer in list(self._open):
                writer.transport.abort()
            await asyncio.sleep(0.1)  # let the handlers see their connections go

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            request = await _read_request(reader)
            if self.delay_s and await _client_left_within(reader, self.delay_s):
                self.hangups += 1
                return
            if self.status is not None:
                body = json.dumps({"error": "upstream unavailable"}).encode()
                writer.write(
                    f"HTTP/1.1 {self.status} Upstream Unavailable\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body
                )
                await writer.drain()
                return
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            self._open.add(up_writer)
            up_writer.write(request)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._open.discard(writer)
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 request's bytes: the head and a content-length body (all the engine sends)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + (await reader.readexactly(length) if length else b"")


async def _client_left_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Hold the (fully read) request `seconds`; True as soon as the client hangs up meanwhile."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, 0.05))
        if reader.at_eof():  # the request was read whole: EOF now means the client closed
            return True
    return False


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
