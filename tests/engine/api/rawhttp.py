"""HTTP/1.1 by hand over a raw socket: the clients a real server meets that httpx will not imitate
(a chunked body that never ends, a body dripped a byte at a time, an answer read mid-upload)."""

from __future__ import annotations

import json
import os
import select
import socket
import time
from dataclasses import dataclass, field

CHUNK = 64 * 1024


@dataclass
class RawResult:
    """What one raw request got: the status and body (if an answer came), and how much was sent."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    sent: int = 0
    closed_by_server: bool = False
    seconds: float = 0.0

    def error(self) -> dict:
        """The JSON error object of the answer."""
        return json.loads(self.body)["error"]


def _head(path: str, port: int, token: str | None, content_type: str = "application/json") -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Transfer-Encoding: chunked",
             f"Content-Type: {content_type}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Reader:
    """Collects the answer as it arrives, without blocking the sender."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer, self.eof = sock, b"", False

    def poll(self, timeout: float = 0.0) -> None:
        while not self.eof:
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if not readable:
                return
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                self.eof = True
                return
            if not data:
                self.eof = True
                return
            self.buffer += data
            timeout = 0.0

    def answer(self) -> tuple[int, dict[str, str], bytes] | None:
        head, sep, rest = self.buffer.partition(b"\r\n\r\n")
        if not sep:
            return None
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        if len(rest) < length:
            return None
        return int(lines[0].split()[1]), headers, rest[:length]

    def wait_answer(self, result: RawResult, wait_s: float, poll_s: float) -> None:
        """Read until an answer comes (or the server hangs up, or `wait_s` passes) into `result`; after an
        answer, see whether the server closes the connection."""
        deadline = time.monotonic() + wait_s
        while self.answer() is None and not self.eof and time.monotonic() < deadline:
            self.poll(poll_s)
        answer = self.answer()
        if answer is not None:
            result.status, result.headers, result.body = answer
            # after an answer to an unread body the server hangs up rather than read the rest
            self.poll(2.0)
            result.closed_by_server = result.closed_by_server or self.eof


def post_chunked(
    port: int, path: str, *, token: str | None, total: int, drip_s: float = 0.0, piece: int = CHUNK,
    timeout: float = 30.0, content_type: str = "application/json", prefix: bytes = b"",
) -> RawResult:
    """POST a chunked body of `prefix` then `total` random bytes (`piece` bytes per chunk, `drip_s`
    between chunks), reading the answer whenever it comes; stops sending once answered or cut off."""
    result = RawResult()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        reader = _Reader(sock)
        sock.sendall(_head(path, port, token, content_type) + (_chunk(prefix) if prefix else b""))
        payload = os.urandom(piece)
        try:
            while result.sent < total and reader.answer() is None and not reader.eof:
                sock.sendall(_chunk(payload))
                result.sent += len(payload)
                reader.poll(drip_s)
                if time.monotonic() - started > timeout:
                    break
            if reader.answer() is None and not reader.eof and result.sent >= total:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            result.closed_by_server = True
        reader.wait_answer(result, timeout, poll_s=0.2)
    result.seconds = time.monotonic() - started
    return result


def first_answer_after_headers(port: int, path: str, *, token: str | None, wait_s: float = 5.0) -> RawResult:
    """Send only the headers and one chunk of a chunked body, then wait for an answer: one that comes
    now was given without the body."""
    result = RawResult()
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(_head(path, port, token) + _chunk(b"{"))
        result.sent = 1
        _Reader(sock).wait_answer(result, wait_s, poll_s=0.1)
    return result
