"""A stand-in for the MIRAGE engine on a real loopback socket (aiohttp), speaking the HTTP contract.

Each route answers from a queue of planned responses (status, error body, delay, Retry-After, SSE
events) and falls back to a healthy default. It records every request and the peak number of job
requests in flight, so tests can check what the bot sent and how much it sent at once.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image, ImageDraw

from engine.contract import SSE_MEDIA_TYPE

JOB_ROUTES = ("/v1/search", "/v1/search/image", "/v1/search/similar", "/v1/compare", "/v1/generate", "/v1/ask")
RETRYABLE_STATUS = (408, 429, 503)  # what the real engine marks retryable unless a plan says otherwise


@dataclass
class Plan:
    """One planned answer for a route."""

    status: int = 200
    code: str = "error"
    message: str = "planned failure"
    delay: float = 0.0
    retry_after: str | None = None
    body: Any = None  # raw JSON body overriding the default (for status 200) or the error body
    raw: bytes | None = None  # raw bytes body (e.g. not JSON)
    content_type: str = "text/plain"
    stream_error: tuple[int, str, str] | None = None  # SSE: (status, code, message) instead of a result
    retryable: bool | None = None  # the error body's `retryable`; None = as the engine decides by status
    steps: int | None = None  # generate: number of progress events
    step_delay: float = 0.0
    queued: list[int] = field(default_factory=list)  # SSE queued positions to announce first
    tokens: list[str] = field(default_factory=list)  # ask, search: SSE token events (the LLM's words)
    token_delay: float = 0.0


def png_bytes(
    size: tuple[int, int] = (96, 96), colour: str = "gray", noise: bool = False, text: str = ""
) -> bytes:
    """A PNG; with `noise`, random pixels so it compresses badly (for downscaling tests)."""
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, colour)
    if text:
        ImageDraw.Draw(image).text((4, 4), text, fill="white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def hit(i: int, score: float = 0.9) -> dict[str, Any]:
    """A contract hit for atlas image ROCO_{i:05d}."""
    rid = f"ROCO_{i:05d}"
    return {
        "id": rid,
        "score": score,
        "caption": f"Chest x-ray number {i} showing a right pneumothorax",
        "modality": "x-ray",
        "source": {"roco_id": rid, "pmc_id": f"PMC{1000 + i}", "licence": "CC BY 4.0"},
        "image_url": f"/v1/atlas/{rid}/image",
    }


def quiz_question(seed: int) -> dict[str, Any]:
    """A caption quiz question as the engine gives it; the seed picks the image, as on a fixed atlas."""
    item = hit(seed % 90 + 1)
    shown = [hit((seed + offset) % 90 + 1) for offset in (0, 17, 34, 51)]
    answer = seed % 4
    shown[0], shown[answer] = shown[answer], shown[0]
    return {
        "kind": "caption",
        "item": item,
        "image_url": item["image_url"],
        "question": "Which caption belongs to this image?",
        "choices": [{"text": h["caption"][:40], "full_text": h["caption"], "id": h["id"]} for h in shown],
        "answer": answer,
        "hints": [f"Modality: {item['modality']} ({item['id']})", "Region: chest", item["caption"][:14] + "…"],
        "seed": seed,
    }


class EngineStandIn:
    """The engine, faked at the HTTP edge."""

    def __init__(self, token: str | None = "test-engine-token") -> None:
        self.token = token
        self.plans: dict[str, deque[Plan]] = defaultdict(deque)
        self.requests: list[dict[str, Any]] = []
        self.image_size = (96, 96)
        self.image_noise = False
        # Served for every atlas image when set (made once by the test, so the stand-in itself does no
        # image work on the event loop while a test measures that loop).
        self.image_bytes: bytes | None = None
        self.streaming = True  # False: answer plain JSON even when asked for events (an older engine)
        self.in_flight = 0
        self.peak_in_flight = 0
        self.closed_early = 0  # event streams the client closed before their last event
        self.url = ""
        app = web.Application(client_max_size=20 * 2**20)
        app.router.add_post("/v1/search", self._search)
        app.router.add_post("/v1/search/image", self._search_image)
        app.router.add_post("/v1/search/similar/{atlas_id}", self._search_similar)
        app.router.add_post("/v1/compare", self._compare)
        app.router.add_post("/v1/generate", self._generate)
        app.router.add_post("/v1/ask", self._ask)
        app.router.add_post("/v1/quiz", self._quiz)
        app.router.add_get("/v1/atlas/{atlas_id}", self._atlas_hit)
        app.router.add_get("/v1/atlas/{atlas_id}/image", self._atlas_image)
        self._runner = web.AppRunner(app)

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self, port: int = 0) -> str:
        """Listen on a loopback port (a free one by default); returns the base URL."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        """Close the server."""
        await self._runner.cleanup()

    def plan(self, route: str, *plans: Plan) -> None:
        """Queue answers for `route` (e.g. '/v1/search'); used up in order, then the default."""
        self.plans[route].extend(plans)

    def calls(self, route: str) -> list[dict[str, Any]]:
        """Recorded requests to `route`."""
        return [r for r in self.requests if r["route"] == route]

    # --- helpers --------------------------------------------------------------------------
    async def _begin(self, request: web.Request, route: str, body: Any) -> Plan | web.Response:
        self.requests.append(
            {"route": route, "headers": dict(request.headers), "body": body, "path": request.path}
        )
        if self.token is not None and request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "unauthorized", "missing or wrong bearer token")
        plan = self.plans[route].popleft() if self.plans[route] else Plan()
        if plan.delay:
            await asyncio.sleep(plan.delay)
        if plan.raw is not None:
            return web.Response(
                status=plan.status, body=plan.raw, headers={"Content-Type": plan.content_type}
            )
        if plan.status >= 400:
            headers = {"Retry-After": plan.retry_after} if plan.retry_after is not None else None
            body = plan.body or {"error": _detail(plan.status, plan.code, plan.message, plan.retryable)}
            return web.json_response(body, status=plan.status, headers=headers)
        return plan

    async def _job(
        self, request: web.Request, route: str, body: Any, make: Any, steps: int = 0
    ) -> web.StreamResponse:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            plan = await self._begin(request, route, body)
            if isinstance(plan, web.Response):
                return plan
            result = plan.body if plan.body is not None else make(body)
            if self.streaming and SSE_MEDIA_TYPE in request.headers.get("Accept", ""):
                return await self._stream(
                    request, plan, result, plan.steps if plan.steps is not None else steps
                )
            return web.json_response(result)
        finally:
            self.in_flight -= 1

    async def _stream(self, request: web.Request, plan: Plan, result: Any, steps: int) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": SSE_MEDIA_TYPE, "Cache-Control": "no-cache"})
        await response.prepare(request)

        async def event(name: str, data: Any) -> None:
            await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

        await response.write(b": keep-alive comment\n\n")
        for position in [*plan.queued, 0]:
            await event("queued", {"position": position})
        for step in range(1, steps + 1):
            await asyncio.sleep(plan.step_delay)
            await event("progress", {"step": step, "total": steps})
        try:
            for text in plan.tokens:
                await asyncio.sleep(plan.token_delay)
                await event("token", {"text": text})
        except (ConnectionError, asyncio.CancelledError):  # the client went away: the engine would stop here
            self.closed_early += 1
            raise
        if plan.stream_error is not None:
            status, code, message = plan.stream_error
            await event("error", {"error": _detail(status, code, message, plan.retryable), "status": status})
        else:
            await event("result", result)
        await response.write_eof()
        return response

    # --- routes ---------------------------------------------------------------------------
    async def _search(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()

        def make(b: dict[str, Any]) -> dict[str, Any]:
            k = b.get("k", 4)
            enriched = (
                f"A pneumothorax is air in the pleural space. About: {b['query']}."
                if b.get("enrich", True)
                else None
            )
            return {
                "query": b["query"],
                "enriched": enriched,
                "best": hit(99, 0.95) if b.get("enrich", True) else None,
                "hits": [hit(i, 0.9 - i / 100) for i in range(1, k + 1)],
                "timings_ms": {"total": 12.0},
            }

        return await self._job(request, "/v1/search", body, make)

    async def _search_image(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        upload = form["image"]
        data = upload.file.read()  # type: ignore[union-attr]
        body = {"k": int(form.get("k", 4)), "image_bytes": len(data), "filename": upload.filename}  # type: ignore[union-attr]
        return await self._job(
            request, "/v1/search/image", body, lambda b: {"hits": [hit(i, 0.8) for i in range(1, b["k"] + 1)]}
        )

    async def _search_similar(self, request: web.Request) -> web.StreamResponse:
        body = {**await request.json(), "atlas_id": request.match_info["atlas_id"]}

        def make(b: dict[str, Any]) -> dict[str, Any]:
            own = int(b["atlas_id"].rsplit("_", 1)[-1]) if b["atlas_id"][-1:].isdigit() else -1
            ids = [i for i in range(1, b.get("k", 4) + 2) if i != own][: b.get("k", 4)]  # itself left out
            return {"id": b["atlas_id"], "hits": [hit(i, 0.8) for i in ids]}

        return await self._job(request, "/v1/search/similar", body, make)

    async def _compare(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        return await self._job(
            request,
            "/v1/compare",
            body,
            lambda b: {
                "query": b["query"],
                "subtract": b["subtract"],
                "add": b["add"],
                "original": {"hits": [hit(1)]},
                "modified": {"hits": [hit(2)]},
            },
        )

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()

        def make(b: dict[str, Any]) -> dict[str, Any]:
            picture = png_bytes((128, 128), "darkred", text="SYNTHETIC")
            steps = b.get("steps") or (4 if b.get("fast") else 30)
            return {
                "prompt": b["prompt"],
                "prompt_used": b["prompt"],
                "image_png_b64": base64.b64encode(picture).decode(),
                "seed": b.get("seed", 1234),
                "steps": steps,
                "guidance": 1.5 if b.get("fast") else 7.5,
                "fast": b.get("fast", False),
                "nearest": hit(7, 0.7),
            }

        return await self._job(request, "/v1/generate", body, make, steps=body.get("steps") or 3)

    async def _ask(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()

        def make(b: dict[str, Any]) -> dict[str, Any]:
            # A grounded answer citing the first and the last context image (as the real engine keeps only
            # citations 1…k and maps each to its atlas id).
            ids = b["context_ids"]
            sources = [{**hit(int(i.rsplit("_", 1)[-1]) if i[-1:].isdigit() else 0), "id": i} for i in ids]
            cited = sorted({1, len(ids)})
            answer = f"About '{b['question']}': air collects in the pleural space [1]" + (
                f" and the lung edge is visible [{len(ids)}]." if len(ids) > 1 else "."
            )
            return {
                "question": b["question"],
                "answer": answer,
                "citations": [{"n": n, "id": ids[n - 1]} for n in cited],
                "sources": sources,
                "grounded": True,
                "notes": [],
            }

        return await self._job(request, "/v1/ask", body, make)

    async def _quiz(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        return await self._job(request, "/v1/quiz", body, lambda b: quiz_question(b.get("seed", 0)))

    async def _atlas_hit(self, request: web.Request) -> web.StreamResponse:
        atlas_id = request.match_info["atlas_id"]
        plan = await self._begin(request, "/v1/atlas", None)
        if isinstance(plan, web.Response):
            return plan
        return web.json_response({**hit(1), "id": atlas_id})

    async def _atlas_image(self, request: web.Request) -> web.StreamResponse:
        atlas_id = request.match_info["atlas_id"]
        plan = await self._begin(request, "/v1/atlas/image", atlas_id)
        if isinstance(plan, web.Response):
            return plan
        data = self.image_bytes or png_bytes(self.image_size, "gray", noise=self.image_noise, text=atlas_id)
        return web.Response(body=data, content_type="image/png")


def _detail(status: int, code: str, message: str, retryable: bool | None = None) -> dict[str, Any]:
    """The contract's error detail; retryable as the engine decides it unless given."""
    retry = status in RETRYABLE_STATUS if retryable is None else retryable
    return {"code": code, "message": message, "retryable": retry}


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": _detail(status, code, message)}, status=status)
