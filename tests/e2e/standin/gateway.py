"""The gateway: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME → replay + RESUMED, dispatches.

Transport compression follows the `compress` query parameter, as Discord's gateway does: zlib-stream (one
zlib context per connection, every payload ends with a Z_SYNC_FLUSH) or zstd-stream (one zstd context per
connection, flushed per payload) when the `zstandard` package is installed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .records import GatewayClose, GatewayFrame

log = logging.getLogger(__name__)

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_PRESENCE, OP_VOICE = 0, 1, 2, 3, 4
OP_RESUME, OP_RECONNECT, OP_REQUEST_MEMBERS, OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = (
    6,
    7,
    8,
    9,
    10,
    11,
)
CLOSE_UNKNOWN_ERROR, CLOSE_UNKNOWN_OPCODE, CLOSE_DECODE_ERROR = 4000, 4001, 4002
CLOSE_NOT_AUTHENTICATED, CLOSE_AUTH_FAILED, CLOSE_ALREADY_AUTHENTICATED = 4003, 4004, 4005
_STANDIN_CLOSE_CODES = frozenset({CLOSE_UNKNOWN_OPCODE, CLOSE_DECODE_ERROR, CLOSE_NOT_AUTHENTICATED, CLOSE_AUTH_FAILED,
                                  CLOSE_ALREADY_AUTHENTICATED})


def _zstd_stream_compressor() -> Callable[[bytes], bytes]:
    """One zstd stream for the connection, flushed per payload: the `zstandard` package, else Python 3.14's
    `compression.zstd` (discord.py asks for zstd-stream only when it has one of them)."""
    try:
        import zstandard
    except ImportError:
        from compression.zstd import ZstdCompressor  # type: ignore[import-not-found]

        stdlib = ZstdCompressor()
        return lambda raw: stdlib.compress(raw, mode=ZstdCompressor.FLUSH_BLOCK)
    stream = zstandard.ZstdCompressor().compressobj()
    return lambda raw: stream.compress(raw) + stream.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)


class Compressor:
    """Per-connection transport compression; `None` mode sends plain text frames."""

    def __init__(self, mode: str | None) -> None:
        self.mode = mode
        if mode == "zlib-stream":
            self._zlib = zlib.compressobj()
        elif mode == "zstd-stream":
            self._zstd_compress = _zstd_stream_compressor()
        elif mode is not None:
            raise ValueError(f"unsupported compress={mode!r}; Discord offers zlib-stream and zstd-stream")

    async def send(self, ws: web.WebSocketResponse, text: str) -> None:
        """Send one payload, compressed as negotiated."""
        raw = text.encode()
        if self.mode == "zlib-stream":
            await ws.send_bytes(self._zlib.compress(raw) + self._zlib.flush(zlib.Z_SYNC_FLUSH))
        elif self.mode == "zstd-stream":
            await ws.send_bytes(self._zstd_compress(raw))
        else:
            await ws.send_str(text)


@dataclass
class Connection:
    """One websocket connection (a session may span several through RESUME)."""

    ws: web.WebSocketResponse
    compressor: Compressor
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed_by_standin: bool = False

    async def send(self, payload: dict[str, Any]) -> None:
        async with self.lock:
            await self.compressor.send(self.ws, json.dumps(payload))


@dataclass
class Session:
    """A gateway session: its sequence, every dispatch (for replay on RESUME), and its live connection."""

    session_id: str
    intents: int
    identify: dict[str, Any]
    seq: int = 0
    events: list[tuple[int, str, Any]] = field(default_factory=list)
    connection: Connection | None = None
    resumes: int = 0


class Gateway:
    """Serves the gateway websocket for one stand-in.

    `ready_payload(session)` builds READY's `d`; `guild_payloads()` the GUILD_CREATE payloads;
    `record(frame)` receives every frame in both directions.
    """

    def __init__(
        self,
        token: str,
        ready_payload: Callable[[Session], dict[str, Any]],
        guild_payloads: Callable[[], list[dict[str, Any]]],
        record: Callable[[GatewayFrame], None],
        heartbeat_interval_ms: int = 41_250,
    ) -> None:
        self.token = token
        self.ready_payload = ready_payload
        self.guild_payloads = guild_payloads
        self.record = record
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.sessions: dict[str, Session] = {}
        self.current: Session | None = None
        self.identifies = 0
        self.compressions: list[str | None] = []  # the `compress` each connection asked for
        self.ack_heartbeats = True
        self.heartbeat_ack_delay = 0.05
        self.connected = asyncio.Event()
        self.closes: list[GatewayClose] = []  # every connection's end, oldest first
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- dispatching ---------------------------------------------------------------
    async def dispatch(self, event: str, data: Any, session: Session | None = None) -> int:
        """Send a DISPATCH on the current session; kept for replay if the connection is down. Returns its seq."""
        session = session or self.current
        if session is None:
            raise RuntimeError(f"cannot dispatch {event}: no gateway session (is the bot connected?)")
        session.seq += 1
        session.events.append((session.seq, event, data))
        conn = session.connection
        if conn is not None and not conn.ws.closed:
            await self._send(conn, session, {"op": OP_DISPATCH, "s": session.seq, "t": event, "d": data})
        return session.seq

    async def drop(self, code: int = CLOSE_UNKNOWN_ERROR) -> None:
        """Close the current connection (the session survives, so the client should RESUME)."""
        if self.current is None or self.current.connection is None:
            raise RuntimeError("no live gateway connection to drop")
        self.connected.clear()
        conn, self.current.connection = self.current.connection, None
        conn.closed_by_standin = True
        await conn.ws.close(code=code, message=b"stand-in dropped the connection")

    async def send_reconnect(self) -> None:
        """Ask the client to reconnect and resume (op 7), as Discord does before maintenance."""
        session = self.current
        if session is None or session.connection is None:
            raise RuntimeError("no live gateway connection")
        await self._send(session.connection, session, {"op": OP_RECONNECT, "d": None})

    async def close_all(self) -> None:
        """Close every connection (server shutdown)."""
        for session in self.sessions.values():
            if session.connection is not None:
                session.connection.closed_by_standin = True
                await session.connection.ws.close(code=1001)
                session.connection = None

    # --- the websocket -------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp handler for the gateway websocket route."""
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        if request.query.get("encoding", "json") != "json":
            await ws.close(code=CLOSE_DECODE_ERROR, message=b"the stand-in speaks encoding=json only")
            return ws
        self.compressions.append(request.query.get("compress"))
        try:
            conn = Connection(ws, Compressor(request.query.get("compress")))
        except (ValueError, ImportError) as exc:
            await ws.close(code=CLOSE_DECODE_ERROR, message=str(exc).encode()[:120])
            return ws
        await self._send(
            conn, None, {"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
        )
        session: Session | None = None
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.ERROR:
                    break
                continue
            try:
                payload = json.loads(msg.data)
                op = payload["op"]
            except (ValueError, KeyError, TypeError):
                await ws.close(code=CLOSE_DECODE_ERROR, message=b"Error while decoding payload.")
                break
            self.record(
                GatewayFrame("recv", op, None, payload.get("d"), None, session and session.session_id)
            )
            session = await self._on_op(conn, session, op, payload.get("d"))
            if ws.closed:
                break
        if session is not None and session.connection is conn:
            session.connection = None
            self.connected.clear()
        # The stand-in's own closes below (refusals) and in drop/close_all/_resume are marked; any other
        # close came from the client (its code) or from a lost connection (aiohttp's 1006).
        by_standin = conn.closed_by_standin or ws.close_code in _STANDIN_CLOSE_CODES
        self.closes.append(GatewayClose(ws.close_code, by_standin, session and session.session_id))
        return ws

    async def _on_op(self, conn: Connection, session: Session | None, op: int, d: Any) -> Session | None:
        if op == OP_HEARTBEAT:
            if self.ack_heartbeats:
                self._spawn(self._ack_heartbeat(conn, session))
            return session
        if op == OP_IDENTIFY:
            if session is not None:
                await conn.ws.close(code=CLOSE_ALREADY_AUTHENTICATED, message=b"Already authenticated.")
                return session
            return await self._identify(conn, d or {})
        if op == OP_RESUME:
            return await self._resume(conn, d or {})
        if session is None:
            await conn.ws.close(code=CLOSE_NOT_AUTHENTICATED, message=b"Not authenticated.")
            return None
        if op in (OP_PRESENCE, OP_VOICE, OP_REQUEST_MEMBERS):
            return session
        await conn.ws.close(code=CLOSE_UNKNOWN_OPCODE, message=b"Unknown opcode.")
        return session

    async def _identify(self, conn: Connection, d: dict[str, Any]) -> Session | None:
        if d.get("token") != self.token:
            await conn.ws.close(code=CLOSE_AUTH_FAILED, message=b"Authentication failed.")
            return None
        session = Session(session_id=uuid.uuid4().hex, intents=int(d.get("intents", 0)), identify=d)
        self.sessions[session.session_id] = session
        self.current, session.connection = session, conn
        self.identifies += 1
        await self.dispatch("READY", self.ready_payload(session), session)
        for guild in self.guild_payloads():
            await self.dispatch("GUILD_CREATE", guild, session)
        self.connected.set()
        return session

    async def _resume(self, conn: Connection, d: dict[str, Any]) -> Session | None:
        session = self.sessions.get(d.get("session_id", ""))
        if session is None or d.get("token") != self.token:
            await self._send(conn, None, {"op": OP_INVALID_SESSION, "d": False})
            return None
        last = int(d.get("seq") or 0)
        old = session.connection
        session.connection = conn
        if old is not None and old is not conn:
            old.closed_by_standin = True
            self._spawn(old.ws.close(code=CLOSE_UNKNOWN_ERROR))
        for seq, event, data in session.events:
            if seq > last:
                await self._send(conn, session, {"op": OP_DISPATCH, "s": seq, "t": event, "d": data})
        session.resumes += 1
        self.current = session
        await self.dispatch("RESUMED", {"_trace": ["stand-in"]}, session)
        self.connected.set()
        return session

    async def _ack_heartbeat(self, conn: Connection, session: Session | None) -> None:
        # A real network takes tens of milliseconds. An instant ACK races discord.py's heartbeat thread
        # (it notes the send time only after the send returns) and makes it log "Can't keep up".
        await asyncio.sleep(self.heartbeat_ack_delay)
        if not conn.ws.closed:
            await self._send(conn, session, {"op": OP_HEARTBEAT_ACK})

    async def _send(self, conn: Connection, session: Session | None, payload: dict[str, Any]) -> None:
        self.record(
            GatewayFrame(
                "send",
                payload["op"],
                payload.get("t"),
                payload.get("d"),
                payload.get("s"),
                session and session.session_id,
            )
        )
        try:
            await conn.send(payload)
        except (ConnectionError, RuntimeError) as exc:  # closing socket: the event stays queued for RESUME
            log.debug("gateway send failed: %s", exc)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
