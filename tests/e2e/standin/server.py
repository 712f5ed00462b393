"""StandIn: a local Discord (REST v10 + gateway + CDN) on 127.0.0.1, recording everything the bot sends,
with helpers to act as the study group (slash commands, button presses, modals, messages that mention the
bot) and as Discord misbehaving."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from .commands import CommandRegistry
from .faults import RateLimitRule
from .gateway import CLOSE_UNKNOWN_ERROR, Gateway, Session
from .interactions import Interactions
from .limits import DiscordLimits
from .records import GatewayFrame, InteractionRecord, MessageRecord, RestCall
from .rest import API, build_app
from .world import World

log = logging.getLogger(__name__)
T = TypeVar("T")

INTENT_GUILDS, INTENT_GUILD_MESSAGES, INTENT_MESSAGE_CONTENT = 1 << 0, 1 << 9, 1 << 15
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
CHECK_COST_FACTOR = 9  # a waiting predicate gets at most 1/(1+9) of the loop's time
MAX_CHECK_PAUSE_S = 1.0


class StandIn:
    """A stand-in for Discord on loopback. Use `async with StandIn() as discord:` or start()/stop().

    Point a discord.py client at it with `discord.http.Route.BASE = standin.api_base` and
    `discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(standin.gateway_url)` (see
    `point_discord_py_at`), or give a bot process started by `tests.e2e.launch_bot` `standin.env()`.
    """

    def __init__(
        self,
        *,
        token: str = "standin-bot-token",
        guild_name: str = "Study Group",
        channel_name: str = "study-hall",
        upload_limit: int | None = DEFAULT_UPLOAD_LIMIT,
        advertised_upload_limit: int = DEFAULT_UPLOAD_LIMIT,
        upload_limit_scope: str = "file",
        ack_deadline: float = 3.0,
        token_lifetime: float = 15 * 60.0,
        heartbeat_interval_ms: int = 41_250,
        discord_limits: bool = True,
    ) -> None:
        self.token = token
        self.world = World(guild_name=guild_name, channel_name=channel_name)
        self.commands = CommandRegistry(self.world.snowflakes.next)
        self.interactions = Interactions(
            self.world,
            self.commands,
            ack_deadline=ack_deadline,
            token_lifetime=token_lifetime,
            advertised_upload_limit=advertised_upload_limit,
        )
        self.gateway = Gateway(
            token, self._ready_payload, self._guild_payloads, self._record_frame, heartbeat_interval_ms
        )
        self.upload_limit = upload_limit
        self.upload_limit_scope = upload_limit_scope
        self.rate_limits: list[RateLimitRule] = []
        # Discord's global and per-route limits (limits.py); None: accept any number of requests
        self.limits: DiscordLimits | None = DiscordLimits() if discord_limits else None
        self.calls: list[RestCall] = []
        self.frames: list[GatewayFrame] = []
        self.unsupported: list[RestCall] = []
        self._change = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> StandIn:
        """Listen on 127.0.0.1 on a free port."""
        self._runner = web.AppRunner(build_app(self), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.world.base_url = self.base_url
        log.info("Discord stand-in listening on %s", self.base_url)
        return self

    async def stop(self) -> None:
        """Close gateway connections and the server."""
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> StandIn:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What discord.http.Route.BASE must be."""
        return self.base_url + API

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway-ws"

    @property
    def app_id(self) -> int:
        return self.world.app_id

    @property
    def guild_id(self) -> int:
        return self.world.guild_id

    @property
    def channel_id(self) -> int:
        """The guild's text channel where users run commands."""
        return self.world.channel_id

    @property
    def bot_user_id(self) -> int:
        return self.world.bot_user_id

    def env(self) -> dict[str, str]:
        """Environment for a bot started by `tests.e2e.launch_bot`: token, REST base, gateway, dev guild."""
        return {
            "MIRAGE_DISCORD_TOKEN": self.token,
            "MIRAGE_E2E_DISCORD_API_BASE": self.api_base,
            "MIRAGE_E2E_DISCORD_GATEWAY": self.gateway_url,
            "MIRAGE_DEV_GUILD_ID": str(self.guild_id),
        }

    # --- acting as the users ------------------------------------------------------------------
    async def run_slash(
        self,
        path: str,
        options: dict[str, Any] | None = None,
        *,
        user: str = "student",
        channel_id: int | None = None,
        wait_ack: bool = True,
    ) -> InteractionRecord:
        """Send '/<path>' (e.g. 'mirage search') with options as `user`; by default wait for the ack (≤ deadline)."""
        record = self.interactions.slash(path, options or {}, user, channel_id or self.channel_id)
        return await self._send_interaction(record, wait_ack)

    async def press_button(
        self, message: MessageRecord | int, custom_id: str, *, user: str = "student", wait_ack: bool = True
    ) -> InteractionRecord:
        """Press the button `custom_id` on `message` as `user`; by default wait for the ack."""
        if isinstance(message, int):
            message = self.world.message(None, message)
        record = self.interactions.component(message, custom_id, user)
        return await self._send_interaction(record, wait_ack)

    async def submit_modal(
        self, opened_by: InteractionRecord, *values: str, user: str = "student", wait_ack: bool = True
    ) -> InteractionRecord:
        """Fill in and submit the modal the bot opened in answer to `opened_by` (one value per text input)."""
        record = self.interactions.modal_submit(opened_by, list(values), user)
        return await self._send_interaction(record, wait_ack)

    async def post_message(self, channel_id: int, content: str, *, user: str = "student") -> MessageRecord:
        """`user` posts `content` in a channel or thread; `<@bot>` in it mentions the bot. The bot gets
        MESSAGE_CREATE with the guild-messages intent; without the privileged message-content intent,
        Discord leaves the content empty unless the message mentions the bot."""
        bot_mention = f"<@{self.bot_user_id}>"
        mentions = [self.world.bot_user] if bot_mention in content else []
        message = self.world.user_message(channel_id, user, content, mentions)
        session = self.gateway.current
        if session is not None and session.intents & INTENT_GUILD_MESSAGES:
            payload = dict(message.payload)
            if not mentions and not session.intents & INTENT_MESSAGE_CONTENT:
                payload["content"] = ""
            await self.gateway.dispatch("MESSAGE_CREATE", payload, session)
        self._changed()
        return message

    async def _send_interaction(self, record: InteractionRecord, wait_ack: bool) -> InteractionRecord:
        record.dispatched_at = time.monotonic()
        await self.gateway.dispatch("INTERACTION_CREATE", record.payload)
        self._changed()
        if wait_ack:
            with contextlib.suppress(TimeoutError):  # the record shows it: acked_at stays None
                await self.wait_for(lambda: record.acked, timeout=self.interactions.ack_deadline + 0.5)
        return record

    # --- acting as Discord misbehaving ---------------------------------------------------------
    async def drop_gateway(self, code: int = CLOSE_UNKNOWN_ERROR) -> None:
        """Close the bot's gateway connection; the session stays resumable."""
        await self.gateway.drop(code)

    def set_rate_limit(
        self, pattern: str, retry_after: float, *, times: int = 1, is_global: bool = False
    ) -> RateLimitRule:
        """Answer the next `times` requests matching 'METHOD /path-glob' with 429 and `retry_after` seconds."""
        method = pattern.split(" ", 1)[0]
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE", "*"):
            raise ValueError(
                f"rate-limit pattern must start with an HTTP method, e.g. 'POST /channels/*/messages'; got {pattern!r}"
            )
        rule = RateLimitRule(pattern, retry_after, times, is_global)
        self.rate_limits.append(rule)
        return rule

    # --- waiting and looking -------------------------------------------------------------------
    async def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0, what: str | None = None) -> T:
        """Wait until predicate() is truthy (re-checked on every recorded change) and return its value."""
        deadline = time.monotonic() + timeout
        while True:
            event = self._change
            checked_at = time.monotonic()
            value = predicate()
            if value:
                return value
            now = time.monotonic()
            remaining = deadline - now
            if remaining <= 0:
                recent = ", ".join(str(c) for c in self.calls[-8:]) or "none"
                raise TimeoutError(
                    f"waited {timeout:.1f}s for {what or 'condition'}; last REST calls: {recent}"
                )
            # The predicate runs in the stand-in's own event loop: an expensive one re-run on every
            # request would starve the requests themselves (a 1,000-user load run stalled that way).
            # So it may use at most 1/CHECK_COST_FACTOR of the loop's time.
            pause = min((now - checked_at) * CHECK_COST_FACTOR, MAX_CHECK_PAUSE_S, remaining)
            if pause > 0.001:
                await asyncio.sleep(pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), max(min(deadline - time.monotonic(), 0.5), 0.001))

    @property
    def ready(self) -> bool:
        """A bot is connected (READY and GUILD_CREATE sent) and has synced its commands."""
        return self.gateway.connected.is_set() and self.commands.sync_count > 0

    async def wait_until_ready(self, timeout: float = 30.0) -> None:
        """Wait until `ready`."""
        await self.wait_for(lambda: self.ready, timeout, "bot ready + command sync")

    def calls_matching(self, pattern: str) -> list[RestCall]:
        """Recorded REST calls whose 'METHOD path' or 'METHOD route' matches the glob."""
        return [
            c
            for c in self.calls
            if fnmatch.fnmatchcase(f"{c.method} {c.path}", pattern)
            or fnmatch.fnmatchcase(f"{c.method} {c.route}", pattern)
        ]

    def messages_in(self, channel_id: int) -> list[MessageRecord]:
        """Live messages of a channel or thread, oldest first."""
        return self.world.messages_in(channel_id)

    @property
    def threads(self) -> list[dict[str, Any]]:
        return self.world.threads()

    def thread_for(self, record: InteractionRecord) -> dict[str, Any] | None:
        """The thread started for an interaction: from one of its messages, from a message replying to one,
        or from a channel message that mentions its user, sent after it."""
        own = set(record.message_ids)
        for thread in self.world.threads():
            starter = self.world.messages.get(int(thread["id"]))
            if starter is None:
                continue
            ref = (starter.payload.get("message_reference") or {}).get("message_id")
            if starter.id in own or (ref is not None and int(ref) in own):
                return thread
        for thread in self.world.threads():
            starter = self.world.messages.get(int(thread["id"]))
            if (
                starter
                and starter.source == "channel"
                and starter.created_at >= record.dispatched_at
                and f"<@{record.user_id}>" in starter.text
            ):
                return thread
        return None

    async def wait_for_thread(self, record: InteractionRecord, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for the interaction's thread."""
        return await self.wait_for(
            lambda: self.thread_for(record),
            timeout,
            f"a thread for interaction {record.command or record.custom_id}",
        )

    async def wait_for_messages(
        self,
        channel_id: int,
        predicate: Callable[[list[MessageRecord]], bool],
        timeout: float = 30.0,
        what: str | None = None,
    ) -> list[MessageRecord]:
        """Wait until the channel's/thread's messages satisfy `predicate`; returns them."""

        def check() -> list[MessageRecord] | None:
            messages = self.messages_in(channel_id)
            return messages if predicate(messages) else None

        return await self.wait_for(check, timeout, what or f"messages in {channel_id}")

    def interaction_messages(self, record: InteractionRecord) -> list[MessageRecord]:
        """Messages made through the interaction's token (original response first)."""
        return [self.world.messages[m] for m in record.message_ids if m in self.world.messages]

    # --- internal: recording and events ---------------------------------------------------------
    def _changed(self) -> None:
        event, self._change = self._change, asyncio.Event()
        event.set()

    def _record_call(self, call: RestCall) -> None:
        self.calls.append(call)
        self._changed()

    def _record_frame(self, frame: GatewayFrame) -> None:
        self.frames.append(frame)
        self._changed()

    def _ready_payload(self, session: Session) -> dict[str, Any]:
        return {
            "v": 10,
            "user": self.world.bot_user,
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": session.session_id,
            "resume_gateway_url": self.gateway_url,
            "session_type": "normal",
            "shard": [0, 1],
            "application": {"id": str(self.app_id), "flags": self.world.application()["flags"]},
            "private_channels": [],
            "presences": [],
            "relationships": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "auth": {},
            "user_settings": {},
            "_trace": ["stand-in"],
        }

    def _guild_payloads(self) -> list[dict[str, Any]]:
        return [self.world.guild_payload()]

    async def _dispatch_guild_event(
        self, event: str, data: dict[str, Any], intent: int = INTENT_GUILDS
    ) -> None:
        session = self.gateway.current
        if session is not None and session.intents & intent:
            await self.gateway.dispatch(event, data, session)

    async def _dispatch_message(self, message: MessageRecord, *, created: bool) -> None:
        event = "MESSAGE_CREATE" if created else "MESSAGE_UPDATE"
        await self._dispatch_guild_event(event, message.payload, INTENT_GUILD_MESSAGES)
