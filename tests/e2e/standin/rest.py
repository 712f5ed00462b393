"""Discord's REST API v10 (the subset the bot uses), as aiohttp routes over the stand-in's World.

Every request is recorded (method, path, route template, JSON, uploaded files, status) before the
fault rules (429, 413) and the handlers run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .faults import (
    VIA,
    entity_too_large_response,
    error_response,
    json_response,
    over_upload_limit,
    rate_limited_response,
)
from .limits import refusal_body
from .multipart import BadBody, read_body
from .records import RestCall, UploadedFile
from .validation import invalid_form_body, validate_commands, validate_message
from .world import DiscordError

if TYPE_CHECKING:
    from .server import StandIn

log = logging.getLogger(__name__)
API = "/api/v10"
# Routes authenticated by the token in their path, not by the bot token.
TOKEN_ROUTES = ("/interactions/", "/webhooks/")
UPLOAD_ROUTES = ("POST", "PATCH")

BODY = web.RequestKey("body", Any)
FILES = web.RequestKey("files", list)
CALL = web.RequestKey("call", RestCall)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(standin: StandIn) -> web.Application:
    """The aiohttp application: REST under /api/v10, the gateway websocket, and the attachment CDN."""
    app = web.Application(middlewares=[_middleware(standin)], client_max_size=1024**3)
    routes = Routes(standin)
    r = app.router
    r.add_get(f"{API}/gateway", routes.gateway)
    r.add_get(f"{API}/gateway/bot", routes.gateway_bot)
    r.add_get(f"{API}/users/@me", routes.me)
    r.add_get(f"{API}/oauth2/applications/@me", routes.application)
    r.add_route("*", API + "/applications/{app_id}/commands", routes.commands)
    r.add_route("*", API + "/applications/{app_id}/guilds/{guild_id}/commands", routes.commands)
    r.add_post(API + "/interactions/{interaction_id}/{token}/callback", routes.callback)
    r.add_post(API + "/webhooks/{app_id}/{token}", routes.followup)
    r.add_route("*", API + "/webhooks/{app_id}/{token}/messages/{message_id}", routes.webhook_message)
    r.add_get(API + "/channels/{channel_id}", routes.channel)
    r.add_post(API + "/channels/{channel_id}/typing", routes.typing)
    r.add_post(API + "/channels/{channel_id}/messages", routes.create_message)
    r.add_route("*", API + "/channels/{channel_id}/messages/{message_id}", routes.message)
    r.add_post(API + "/channels/{channel_id}/messages/{message_id}/threads", routes.thread_from_message)
    r.add_put(API + "/channels/{channel_id}/thread-members/@me", routes.join_thread)
    r.add_get("/gateway-ws", standin.gateway.handle)
    r.add_get("/cdn/attachments/{channel_id}/{attachment_id}/{filename}", routes.cdn)
    r.add_route("*", API + "/{tail:.*}", routes.unsupported)
    return app


def _middleware(standin: StandIn) -> Any:
    @web.middleware
    async def record_and_refuse(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not path.startswith(API):
            return await handler(request)
        sub = path[len(API) :]
        route = (
            request.match_info.route.resource.canonical[len(API) :]
            if request.match_info.route.resource
            else sub
        )
        try:
            body, files = await read_body(request)
        except BadBody as exc:
            body, files = None, []
            call = RestCall(request.method, sub, route, dict(request.query), None, [], status=400)
            standin._record_call(call)
            return error_response(400, 50109, f"The request body contains invalid JSON: {exc}")
        call = RestCall(request.method, sub, route, dict(request.query), body, files)
        request[BODY], request[FILES], request[CALL] = body or {}, files, call
        try:
            response = await _answer(standin, request, handler, call, sub, route, files)
        except DiscordError as exc:
            response = error_response(exc.status, exc.code, exc.message, exc.errors)
        call.status = response.status
        standin._record_call(call)
        return response

    return record_and_refuse


async def _answer(
    standin: StandIn,
    request: web.Request,
    handler: Handler,
    call: RestCall,
    sub: str,
    route: str,
    files: list[UploadedFile],
) -> web.StreamResponse:
    needs_bot_token = not sub.startswith(TOKEN_ROUTES) and sub != "/gateway"
    if needs_bot_token and request.headers.get("Authorization") != f"Bot {standin.token}":
        return error_response(401, 0, "401: Unauthorized")
    for rule in standin.rate_limits:
        if rule.matches(request.method, sub) or rule.matches(request.method, route):
            rule.hits += 1
            return rate_limited_response(rule)
    limit_headers: dict[str, str] = {}
    if standin.limits is not None:  # Discord's own limits (limits.py), on unless the test turned them off
        verdict = standin.limits.check(request.method, sub)
        if not verdict.allowed:
            return json_response(refusal_body(verdict), 429, {**verdict.headers, **VIA})
        limit_headers = verdict.headers
    if request.method in UPLOAD_ROUTES and over_upload_limit(
        files, standin.upload_limit, standin.upload_limit_scope
    ):
        return entity_too_large_response()
    response = await handler(request)
    response.headers.update(limit_headers)
    return response


def _json(data: Any, status: int = 200) -> web.Response:
    return json_response(data, status)


def _snowflake(request: web.Request, key: str) -> int:
    value = request.match_info[key]
    if not value.isdigit():
        raise DiscordError(
            400,
            50035,
            "Invalid Form Body",
            {
                key: {
                    "_errors": [
                        {"code": "NUMBER_TYPE_COERCE", "message": f'Value "{value}" is not snowflake.'}
                    ]
                }
            },
        )
    return int(value)


def _check_message(body: dict[str, Any], files: list[UploadedFile], *, editing: bool = False) -> None:
    errors = validate_message(body, files, editing=editing)
    if errors:
        detail = invalid_form_body(errors)
        raise DiscordError(400, detail["code"], detail["message"], detail["errors"])


class Routes:
    """Handlers; each reads request['body'] / request['files'] parsed by the middleware."""

    def __init__(self, standin: StandIn) -> None:
        self.s = standin
        self.world = standin.world

    async def gateway(self, request: web.Request) -> web.Response:
        return _json({"url": self.s.gateway_url})

    async def gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        return _json({"url": self.s.gateway_url, "shards": 1, "session_start_limit": limit})

    async def me(self, request: web.Request) -> web.Response:
        return _json(self.world.bot_user)

    async def application(self, request: web.Request) -> web.Response:
        return _json(self.world.application())

    async def commands(self, request: web.Request) -> web.Response:
        if _snowflake(request, "app_id") != self.world.app_id:
            raise DiscordError(403, 50001, "Missing Access")
        guild_id = _snowflake(request, "guild_id") if "guild_id" in request.match_info else None
        if guild_id is not None and guild_id != self.world.guild_id:
            raise DiscordError(403, 50001, "Missing Access")
        if request.method == "GET":
            return _json(self.s.commands.scope(guild_id))
        if request.method != "PUT":
            raise DiscordError(405, 0, "405: Method Not Allowed")
        errors = validate_commands(request[BODY])
        if errors:
            raise DiscordError(400, 50035, "Invalid Form Body", errors)
        stored = self.s.commands.overwrite(self.world.app_id, guild_id, request[BODY])
        self.s._changed()
        return _json(stored)

    async def callback(self, request: web.Request) -> web.StreamResponse:
        body, files = request[BODY], request[FILES]
        if body.get("type") in (4, 7):
            _check_message(body.get("data") or {}, files, editing=body.get("type") == 7)
        record, message = self.s.interactions.callback(
            _snowflake(request, "interaction_id"), request.match_info["token"], body, files
        )
        self.s._changed()
        if message is not None and not message.ephemeral:
            await self.s._dispatch_message(message, created=body.get("type") != 7)
        if request.query.get("with_response") in ("1", "true", "True"):
            return _json(self.s.interactions.callback_response(record, message))
        return web.Response(status=204)

    async def followup(self, request: web.Request) -> web.StreamResponse:
        body, files = request[BODY], request[FILES]
        record = self.s.interactions.by_webhook(_snowflake(request, "app_id"), request.match_info["token"])
        _check_message(body, files)
        message = self.s.interactions.followup(record, body, files)
        self.s._changed()
        if request.query.get("wait") in ("1", "true", "True"):
            return _json(message.payload)
        return web.Response(status=204)

    async def webhook_message(self, request: web.Request) -> web.StreamResponse:
        record = self.s.interactions.by_webhook(_snowflake(request, "app_id"), request.match_info["token"])
        message = self.s.interactions.webhook_message(record, request.match_info["message_id"])
        if request.method == "GET":
            return _json(message.payload)
        if request.method == "PATCH":
            _check_message(request[BODY], request[FILES], editing=True)
            self.world.edit_message(message, request[BODY], request[FILES])
            self.s._changed()
            return _json(message.payload)
        if request.method == "DELETE":
            message.deleted = True
            self.s._changed()
            return web.Response(status=204)
        raise DiscordError(405, 0, "405: Method Not Allowed")

    async def channel(self, request: web.Request) -> web.Response:
        return _json(self.world.channel(_snowflake(request, "channel_id")))

    async def typing(self, request: web.Request) -> web.Response:
        self.world.channel(_snowflake(request, "channel_id"))
        return web.Response(status=204)

    async def create_message(self, request: web.Request) -> web.Response:
        body, files = request[BODY], request[FILES]
        _check_message(body, files)
        message = self.world.create_message(_snowflake(request, "channel_id"), body, files, source="channel")
        self.s._changed()
        await self.s._dispatch_message(message, created=True)
        return _json(message.payload)

    async def message(self, request: web.Request) -> web.StreamResponse:
        message = self.world.message(_snowflake(request, "channel_id"), _snowflake(request, "message_id"))
        if request.method == "GET":
            return _json(message.payload)
        if request.method == "PATCH":
            _check_message(request[BODY], request[FILES], editing=True)
            self.world.edit_message(message, request[BODY], request[FILES])
            self.s._changed()
            await self.s._dispatch_message(message, created=False)
            return _json(message.payload)
        if request.method == "DELETE":
            message.deleted = True
            self.s._changed()
            return web.Response(status=204)
        raise DiscordError(405, 0, "405: Method Not Allowed")

    async def thread_from_message(self, request: web.Request) -> web.Response:
        body = request[BODY]
        thread = self.world.start_thread(
            _snowflake(request, "channel_id"),
            _snowflake(request, "message_id"),
            body.get("name") or "",
            int(body.get("auto_archive_duration") or 1440),
        )
        self.s._changed()
        await self.s._dispatch_guild_event("THREAD_CREATE", {**thread, "newly_created": True})
        return _json(thread, status=201)

    async def join_thread(self, request: web.Request) -> web.Response:
        self.world.channel(_snowflake(request, "channel_id"))
        return web.Response(status=204)

    async def cdn(self, request: web.Request) -> web.Response:
        f = self.world.cdn.get(
            int(request.match_info["attachment_id"]) if request.match_info["attachment_id"].isdigit() else -1
        )
        if f is None or f.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=f.data, content_type=f.content_type)

    async def unsupported(self, request: web.Request) -> web.Response:
        self.s.unsupported.append(request[CALL])
        log.warning("stand-in has no route for %s %s", request.method, request.path)
        raise DiscordError(404, 0, "404: Not Found")
