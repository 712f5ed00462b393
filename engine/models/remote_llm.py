"""The LLM served apart: an OpenAI-compatible server (vLLM, TGI, `transformers serve`) over HTTP.

Set `MIRAGE_LLM_URL` and the engine sends its enrichment and follow-up generations there instead of
loading the LLM itself (engine/models/factory.py decides). The server batches its own requests, so
this generator offers no batch path and the engine's LLM batcher leaves it alone.

Two endpoints, one chosen when the engine starts (`MIRAGE_LLM_API`):
- chat completions (`/v1/chat/completions`): the server applies its model's chat template to the
  prompt's messages (`Prompt.messages`);
- completions (`/v1/completions`) with the prompt's text in Dolly's instruction format, for a model
  without a template (this generator offers no `chat_prompt`, so the pipelines render Dolly's format).
"auto" probes chat first and falls back to completions when the server refuses chat for this model.

Every failure to answer (refused connection, no answer within `MIRAGE_LLM_TIMEOUT_S`, an HTTP
error status) raises LLMUnavailable, whose message is safe to show a user; the pipelines then
answer without the LLM and say why. Cancelling closes the request. The server streams its chunks;
`on_text` gets their words as they arrive (engine/models/streaming.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import socket
import threading
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from engine.models.base import END_KEY, GenerationCancelled, LLMUnavailable, Prompt, check_sampling
from engine.models.streaming import TextHook, TextStream

log = logging.getLogger(__name__)

Api = Literal["auto", "chat", "completions"]
CANCEL_POLL_S = 0.05  # how often a waiting generation looks at its cancel event
ERROR_BODY_CHARS = 300  # how much of a server's error body the operator's log keeps
PROBE_TEXT = "Say OK."


class RemoteLLM:
    """An OpenAI-compatible server behind the TextGenerator protocol."""

    def __init__(
        self, base_url: str, *, model: str, api: Literal["chat", "completions"], timeout_s: float,
        api_key: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.model_id = model
        self.api = api
        self.timeout_s = timeout_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # One event loop thread owns the HTTP client: generations from many worker threads share
        # its connection pool, and a cancelled one is closed by cancelling its task there.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="remote-llm", daemon=True)
        self._thread.start()
        self._client: httpx.AsyncClient = self._run(_client(base_url, headers, timeout_s), None)

    @property
    def summary(self) -> str:
        """What readiness shows once connected (the URL carries no secret: the key is a header)."""
        endpoint = "chat completions" if self.api == "chat" else "completions"
        return f"{self.model_id} at {self.base_url} ({endpoint})"

    def generate(
        self,
        prompt: Prompt,
        *,
        max_new_tokens: int,
        top_p: float,
        seed: int,
        cancel: threading.Event | None = None,
        on_text: TextHook | None = None,
    ) -> str:
        """The server's completion of `prompt`, cut at "### End", stripped; raises LLMUnavailable
        when the server cannot answer and GenerationCancelled when `cancel` is set. `on_text` gets the
        new words of each chunk (from the client's event loop thread)."""
        check_sampling(max_new_tokens, top_p)
        path, body = self.request_body(prompt, max_new_tokens=max_new_tokens, top_p=top_p, seed=seed)
        stream = TextStream(on_text) if on_text is not None else None
        text = self._run(self._stream(path, body, stream), cancel)
        return text.split(END_KEY, 1)[0].strip()

    def count_tokens(self, text: str) -> int:
        """An estimate of the served model's tokens for `text` (its tokenizer is on the server):
        one token per 4 characters, rounded up, as English text averages in BPE tokenizers."""
        return -(-len(text) // 4)

    def request_body(self, prompt: Prompt, *, max_new_tokens: int, top_p: float, seed: int) -> tuple[str, dict]:
        """The endpoint and JSON body for `prompt`: its messages in chat mode, else its text as a plain prompt."""
        # temperature 1 with top_p: the reference's pure nucleus sampling (servers may default lower)
        body: dict[str, Any] = {
            "model": self.model_id, "max_tokens": max_new_tokens, "top_p": top_p, "temperature": 1.0,
            "seed": seed, "stop": [END_KEY], "stream": True,
        }
        if self.api == "chat" and prompt.messages is not None:
            return "/chat/completions", body | {"messages": [dict(m) for m in prompt.messages]}
        return "/completions", body | {"prompt": prompt.text}

    def close(self) -> None:
        """Close the HTTP client and stop the event loop thread (idempotent)."""
        if not self._loop.is_running():
            return
        self._run(self._client.aclose(), None)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # ---- one request -----------------------------------------------------------------------

    def _run(self, coroutine, cancel: threading.Event | None):
        """Run `coroutine` on the client's loop; wait for it, cancelling it when `cancel` is set."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        while True:
            try:
                return future.result(timeout=CANCEL_POLL_S if cancel is not None else None)
            except concurrent.futures.TimeoutError:
                if cancel is not None and cancel.is_set():
                    future.cancel()  # cancels the task: httpx closes the connection, the server stops
                    raise GenerationCancelled("the request to the LLM server was cancelled") from None

    async def _stream(self, path: str, body: dict, stream: TextStream | None = None) -> str:
        """POST `body` with streaming on and gather the text of its server-sent chunks."""
        try:
            async with asyncio.timeout(self.timeout_s):
                try:
                    return await self._read_stream(path, body, stream)
                except StaleConnection:
                    # the server closed a kept-alive connection as we reused it (uvicorn does after
                    # an error status): nothing reached it, so ask once more on a fresh connection
                    return await self._read_stream(path, body, stream)
        except StaleConnection as exc:
            raise LLMUnavailable(f"could not reach the LLM server ({_transport_reason(exc.cause)})") from None
        except (TimeoutError, httpx.TimeoutException):  # the overall deadline, or one phase's
            raise LLMUnavailable(
                f"the LLM server did not answer within {self.timeout_s:g} s (MIRAGE_LLM_TIMEOUT_S)"
            ) from None
        except httpx.TransportError as exc:
            raise LLMUnavailable(f"could not reach the LLM server ({_transport_reason(exc)})") from None

    async def _read_stream(self, path: str, body: dict, stream: TextStream | None) -> str:
        request = self._client.build_request("POST", path, json=body)
        try:
            response = await self._client.send(request, stream=True)
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError) as exc:
            raise StaleConnection(exc) from None
        parts: list[str] = []
        try:
            if response.status_code >= 400:
                await _raise_for_status(response, path)
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, comments, event names
                data = line[len("data:"):].strip()
                if data == "[DONE]":
                    break
                parts.append(_chunk_text(data))
                if stream is not None:
                    stream.update("".join(parts))
        finally:
            await response.aclose()  # also when cancelled: the connection closes, the server stops
        return "".join(parts)


def connect_remote_llm(
    url: str, *, model: str, api: Api = "auto", timeout_s: float = 60.0, api_key: str | None = None
) -> RemoteLLM:
    """A RemoteLLM for `model` at `url`, after a one-token probe proved the server answers.

    "auto" tries chat completions first and keeps completions when only those work. Raises
    LLMUnavailable naming what went wrong (the engine shows it as the LLM's failed readiness).
    """
    base_url = api_base_url(url)
    if api == "auto":
        llm = RemoteLLM(base_url, model=model, api="chat", timeout_s=timeout_s, api_key=api_key)
        try:
            chat_failure = _probe(llm)
            if chat_failure is None:
                return llm
            llm.api = "completions"
            completion_failure = _probe(llm)
            if completion_failure is None:
                log.info("the LLM server refused chat completions for %s (%s); using completions",
                         model, chat_failure)
                return llm
        except BaseException:
            llm.close()
            raise
        llm.close()
        raise LLMUnavailable(f"{chat_failure} for chat completions and {completion_failure} for completions")
    if api not in ("chat", "completions"):
        raise ValueError(f"MIRAGE_LLM_API: must be 'auto', 'chat' or 'completions', got {api!r}")
    llm = RemoteLLM(base_url, model=model, api=api, timeout_s=timeout_s, api_key=api_key)
    try:
        failure = _probe(llm)
    except BaseException:
        llm.close()
        raise
    if failure is not None:
        llm.close()
        raise LLMUnavailable(f"{failure} for {api} completions")
    return llm


def api_base_url(url: str) -> str:
    """The OpenAI-style base URL: `url` as given when it has a path, else with `/v1` added."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"MIRAGE_LLM_URL: must be an http:// or https:// URL, got {url!r}")
    path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _probe(llm: RemoteLLM) -> str | None:
    """None when one token comes back in `llm.api` mode; the HTTP refusal otherwise. A server that
    cannot be reached or does not answer in time raises LLMUnavailable (no other mode would help)."""
    prompt = Prompt(PROBE_TEXT, ({"role": "user", "content": PROBE_TEXT},))
    try:
        llm.generate(prompt, max_new_tokens=1, top_p=1.0, seed=0)
    except ServerRefused as refused:
        return str(refused)
    return None


class StaleConnection(Exception):
    """The request failed before any answer came back, on a connection the server had closed."""

    def __init__(self, cause: httpx.TransportError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class ServerRefused(LLMUnavailable):
    """The server answered with an HTTP error status (the request reached it)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


async def _client(base_url: str, headers: dict[str, str], timeout_s: float) -> httpx.AsyncClient:
    # created on the loop that will use it; the per-phase timeouts back up the overall deadline
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=httpx.Timeout(timeout_s))


async def _raise_for_status(response: httpx.Response, path: str) -> None:
    """Log the server's own words for the operator; raise a message a user may read."""
    await response.aread()
    detail = response.text[:ERROR_BODY_CHARS]
    status = response.status_code
    log.warning("the LLM server answered HTTP %d to %s: %s", status, path, detail)
    if status >= 500:
        raise ServerRefused(f"the LLM server answered HTTP {status}", status)
    raise ServerRefused(f"the LLM server refused the request (HTTP {status})", status)


def _chunk_text(data: str) -> str:
    """The text of one streamed chunk (chat: choices[0].delta.content; completions: choices[0].text)."""
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise LLMUnavailable("the LLM server sent a chunk that is not JSON") from None
    if not isinstance(chunk, dict):
        raise LLMUnavailable("the LLM server sent a chunk that is not a JSON object")
    if chunk.get("error"):
        log.warning("the LLM server reported an error while answering: %.300s", chunk["error"])
        raise LLMUnavailable("the LLM server reported an error while answering")
    choices = chunk.get("choices") or []
    if not choices:
        return ""  # e.g. a closing chunk that only carries usage
    choice = choices[0]
    text = (choice.get("delta") or {}).get("content") if "delta" in choice else choice.get("text")
    return text if isinstance(text, str) else ""


def _transport_reason(exc: httpx.TransportError) -> str:
    """A short reason without addresses: "connection refused", "name not resolved" …"""
    cause: BaseException | None = exc
    while cause is not None:  # the socket's own error sits under httpx's and anyio's wrappers
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "name not resolved"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__
