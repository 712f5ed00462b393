"""The engine client at the HTTP level: event streams, fallbacks and refusals."""

from __future__ import annotations

import pytest

from bot.engine_client import EngineError, iter_sse
from engine.contract import GenerateRequest, SearchRequest

from .engine_standin import Plan


async def lines(*items: str):
    for item in items:
        yield item


async def test_iter_sse_joins_data_lines_and_skips_comments():
    events = [
        e
        async for e in iter_sse(
            lines(": hi", "event: progress", 'data: {"step": 1,', 'data: "total": 2}', "", "data: x")
        )
    ]
    assert events == [("progress", '{"step": 1,\n"total": 2}'), ("message", "x")]


async def test_progress_and_queue_places_reach_the_hooks(engine, services):
    engine.plan("/v1/generate", Plan(queued=[2, 1], steps=3))
    seen: list[tuple] = []

    async def queued(position: int) -> None:
        seen.append(("queued", position))

    async def progress(step: int, total: int) -> None:
        seen.append(("step", step, total))

    result = await services.engine.generate(
        GenerateRequest(prompt="p", steps=3), on_queued=queued, on_progress=progress
    )
    assert seen == [
        ("queued", 2),
        ("queued", 1),
        ("queued", 0),
        ("step", 1, 3),
        ("step", 2, 3),
        ("step", 3, 3),
    ]
    assert result.synthetic is True and result.steps == 3


async def test_an_engine_without_streaming_answers_plain_json(engine, services):
    engine.streaming = False
    result = await services.engine.generate(GenerateRequest(prompt="p", steps=3))
    assert result.steps == 3 and engine.calls("/v1/generate")[0]["headers"]["Accept"] == "text/event-stream"


async def test_images_are_only_fetched_from_the_engine(services):
    with pytest.raises(EngineError, match="another server"):
        await services.engine.fetch_image("https://example.org/steal-the-token.png")


async def test_a_stream_that_ends_without_an_answer_is_an_error(engine, services):
    stream = b'event: queued\ndata: {"position": 0}\n\n'
    engine.plan("/v1/search", Plan(raw=stream, content_type="text/event-stream"))
    with pytest.raises(EngineError) as caught:
        await services.engine.search(SearchRequest(query="q"))
    assert caught.value.code == "stream_ended"


async def test_a_body_that_is_not_json_is_a_clear_error(engine, services):
    engine.plan("/v1/search", Plan(raw=b"<html>proxy error</html>"))
    with pytest.raises(EngineError, match="not in the format I expect"):
        await services.engine.search(SearchRequest(query="q"))
    engine.plan("/v1/compare", Plan(raw=b"<html>proxy error</html>", status=502))
    from engine.contract import CompareRequest

    with pytest.raises(EngineError, match="HTTP 502"):
        await services.engine.compare(CompareRequest(query="a", subtract="b", add="c"))


async def test_retry_after_longer_than_we_wait_gives_up_at_once(engine, make_services):
    services = make_services(engine_retry_max_s=2)
    engine.plan("/v1/compare", Plan(status=429, code="busy", message="full", retry_after="120"))
    from engine.contract import CompareRequest

    with pytest.raises(EngineError) as caught:
        await services.engine.compare(CompareRequest(query="a", subtract="b", add="c"))
    assert caught.value.status == 429 and caught.value.retry_after == 120
    assert len(engine.calls("/v1/compare")) == 1


async def test_the_connection_pool_does_not_cap_what_the_engines_capacity_allows():
    """The start-up setting says 1 job at once (old pool: 16 connections); the engine later says it takes
    more, and 40 image fetches must all be in flight together (the engine answers none before)."""
    import asyncio

    from aiohttp import web

    from bot.engine_client import make_http_client

    from .conftest import bot_settings

    wanted, arrived, all_here = 40, 0, asyncio.Event()

    async def image(_: web.Request) -> web.Response:
        nonlocal arrived
        arrived += 1
        if arrived == wanted:
            all_here.set()
        await all_here.wait()
        return web.Response(body=b"jpeg")

    app = web.Application()
    app.router.add_get("/v1/atlas/{id}/image", image)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    http = make_http_client(bot_settings(f"http://127.0.0.1:{port}", engine_max_concurrent=1, engine_timeout_s=10))
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(*(http.get(f"/v1/atlas/ROCO_{i}/image") for i in range(wanted))), 20
        )
    finally:
        await http.aclose()
        await runner.cleanup()
    assert [a.content for a in answers] == [b"jpeg"] * wanted
