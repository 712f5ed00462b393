"""The engine client at the HTTP level: event streams, fallbacks and refusals."""

from __future__ import annotations

import pytest

from bot.engine_client import EngineError
from engine.contract import AskRequest, AskTurn, GenerateRequest, SearchRequest

from .engine_standin import Plan


async def test_the_llms_words_reach_on_text_as_the_text_so_far_then_the_checked_answer_returns(engine, services):
    engine.plan("/v1/ask", Plan(queued=[1], tokens=["Air ", "in the ", "pleural space [1", "]."]))
    seen: list[str] = []

    async def on_text(text: str) -> None:
        seen.append(text)

    result = await services.engine.ask(AskRequest(question="Why?", context_ids=["ROCO_1"]), on_text=on_text)
    assert seen == ["Air ", "Air in the ", "Air in the pleural space [1", "Air in the pleural space [1]."]
    assert result.grounded and result.answer.startswith("About 'Why?'")  # the checked answer, not the words
    assert engine.calls("/v1/ask")[0]["headers"]["Accept"] == "text/event-stream"


async def test_a_retried_stream_starts_its_text_again(engine, services):
    engine.plan("/v1/search", Plan(tokens=["first ", "try"], stream_error=(503, "cancelled", "retry"),
                                   retryable=True))
    engine.plan("/v1/search", Plan(tokens=["second"]))
    seen: list[str] = []

    async def on_text(text: str) -> None:
        seen.append(text)

    await services.engine.search(SearchRequest(query="q"), on_text=on_text)
    assert seen == ["first ", "first try", "second"]


async def test_history_travels_with_the_question(engine, services):
    turn = AskTurn(question="What is it?", answer="A pneumothorax [1].")
    await services.engine.ask(AskRequest(question="And on CT?", context_ids=["ROCO_1"], history=[turn]))
    assert engine.calls("/v1/ask")[0]["body"]["history"] == [{"question": "What is it?", "answer": "A pneumothorax [1]."}]


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
