"""The stand-in's REST answers, byte for byte where discord.py depends on them (checked with a plain HTTP client)."""

from __future__ import annotations

import asyncio
import json
import time
import zlib

import aiohttp
import pytest

from tests.e2e.mini_bot import png_bytes
from tests.e2e.standin import StandIn
from tests.e2e.standin.gateway import Compressor

pytestmark = pytest.mark.timeout(30)


def bot_headers(standin: StandIn) -> dict[str, str]:
    return {"Authorization": f"Bot {standin.token}"}


def multipart(payload: dict, files: list[tuple[str, bytes]]) -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", json.dumps(payload))
    for i, (name, data) in enumerate(files):
        form.add_field(f"files[{i}]", data, filename=name, content_type="application/octet-stream")
    return form


async def test_requests_without_the_bot_token_are_401(standin: StandIn) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{standin.api_base}/users/@me") as resp:
        assert resp.status == 401
    assert standin.calls[-1].status == 401


async def test_rate_limit_answers_429_with_discords_body_and_headers_once(standin: StandIn) -> None:
    standin.set_rate_limit("GET /users/@me", retry_after=1.25)
    async with aiohttp.ClientSession(headers=bot_headers(standin)) as http:
        async with http.get(f"{standin.api_base}/users/@me") as resp:
            assert resp.status == 429
            assert resp.headers["Content-Type"] == "application/json"
            assert await resp.json() == {
                "message": "You are being rate limited.",
                "retry_after": 1.25,
                "global": False,
                "code": 0,
            }
            assert resp.headers["Retry-After"] == "2" and resp.headers["X-RateLimit-Remaining"] == "0"
            assert resp.headers["X-RateLimit-Reset-After"] == "1.250" and resp.headers["Via"]
        async with http.get(f"{standin.api_base}/users/@me") as resp:
            assert resp.status == 200


async def test_upload_over_the_limit_is_413_and_a_fitting_one_is_served_from_the_cdn(
    standin: StandIn,
) -> None:
    standin.upload_limit = 5_000
    url = f"{standin.api_base}/channels/{standin.channel_id}/messages"
    small, big = png_bytes(8), png_bytes(64)
    async with aiohttp.ClientSession(headers=bot_headers(standin)) as http:
        async with http.post(url, data=multipart({"content": "big"}, [("big.png", big)])) as resp:
            assert resp.status == 413
            assert await resp.json() == {"code": 40005, "message": "Request entity too large"}
        payload = {
            "content": "small",
            "attachments": [{"id": 0, "filename": "small.png", "description": "alt"}],
        }
        async with http.post(url, data=multipart(payload, [("small.png", small)])) as resp:
            assert resp.status == 200
            attachment = (await resp.json())["attachments"][0]
        assert (
            attachment["content_type"] == "image/png"
            and attachment["width"] == 8
            and attachment["description"] == "alt"
        )
        async with http.get(attachment["url"]) as resp:
            assert await resp.read() == small
    (message,) = standin.messages_in(standin.channel_id)
    assert message.files[0].data == small and message.files[0].description == "alt"


async def test_unknown_routes_are_404_and_listed_as_unsupported(standin: StandIn) -> None:
    async with (
        aiohttp.ClientSession(headers=bot_headers(standin)) as http,
        http.get(f"{standin.api_base}/guilds/1/bans") as resp,
    ):
        assert resp.status == 404
    assert [c.path for c in standin.unsupported] == ["/guilds/1/bans"]


async def test_message_to_an_unknown_channel_is_10003(standin: StandIn) -> None:
    async with (
        aiohttp.ClientSession(headers=bot_headers(standin)) as http,
        http.post(f"{standin.api_base}/channels/42/messages", json={"content": "hi"}) as resp,
    ):
        assert resp.status == 404 and (await resp.json())["code"] == 10003


def test_zlib_stream_payloads_end_in_sync_flush_and_share_one_context() -> None:
    sent: list[bytes] = []

    class FakeWs:
        async def send_bytes(self, data: bytes) -> None:
            sent.append(data)

    compressor = Compressor("zlib-stream")
    for text in ('{"op": 10}', '{"op": 11}'):
        asyncio.run(compressor.send(FakeWs(), text))  # type: ignore[arg-type]
    inflate = zlib.decompressobj()
    assert all(chunk.endswith(b"\x00\x00\xff\xff") for chunk in sent)
    assert [inflate.decompress(chunk) for chunk in sent] == [b'{"op": 10}', b'{"op": 11}']


def test_unknown_compression_is_refused() -> None:
    with pytest.raises(ValueError, match="zlib-stream and zstd-stream"):
        Compressor("brotli")


def test_zstd_stream_payloads_decode_one_by_one_from_one_stream() -> None:
    zstandard = pytest.importorskip("zstandard")
    sent: list[bytes] = []

    class FakeWs:
        async def send_bytes(self, data: bytes) -> None:
            sent.append(data)

    compressor = Compressor("zstd-stream")
    for text in ('{"op": 10}', '{"op": 11}'):
        asyncio.run(compressor.send(FakeWs(), text))  # type: ignore[arg-type]
    stream = zstandard.ZstdDecompressor().decompressobj()  # what discord.py keeps per connection
    assert [stream.decompress(chunk) for chunk in sent] == [b'{"op": 10}', b'{"op": 11}']


def _button_click(standin: StandIn, custom_id: str = "mirage:ask"):
    """A message with one button in the channel, and a click on it (as if just dispatched)."""
    button = {"type": 2, "style": 3, "label": "Ask", "custom_id": custom_id}
    message = standin.world.create_message(
        standin.channel_id, {"content": "answer", "components": [{"type": 1, "components": [button]}]}, [],
        source="channel",
    )
    record = standin.interactions.component(message, custom_id, "student")
    record.dispatched_at = time.monotonic()
    return record


MODAL = {
    "custom_id": "mirage:ask-modal:1",
    "title": "Ask a follow-up",
    "components": [{"type": 1, "components": [
        {"type": 4, "custom_id": "q", "style": 2, "label": "Your question", "min_length": 1, "max_length": 500}
    ]}],
}


async def test_a_modal_is_checked_like_discord_and_submitted_back_as_type_5(standin: StandIn) -> None:
    click = _button_click(standin)
    url = f"{standin.api_base}/interactions/{click.id}/{click.token}/callback"
    async with aiohttp.ClientSession(headers=bot_headers(standin)) as http:
        bad = {**MODAL, "title": "x" * 46}
        async with http.post(url, json={"type": 9, "data": bad}) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 50035
        assert not click.acked
        async with http.post(url, json={"type": 9, "data": MODAL}) as resp:
            assert resp.status == 204
    assert click.acked and click.ack_type == 9 and click.modal == MODAL

    with pytest.raises(ValueError, match="1–500 characters; got 501"):
        standin.interactions.modal_submit(click, ["x" * 501], "student")
    submit = standin.interactions.modal_submit(click, ["why?"], "student")
    assert submit.type == 5 and submit.payload["data"] == {
        "custom_id": "mirage:ask-modal:1",
        "components": [{"type": 1, "components": [{"type": 4, "custom_id": "q", "value": "why?"}]}],
    }
    assert submit.payload["message"]["id"] == str(click.source_message_id)
    submit.dispatched_at = time.monotonic()
    url = f"{standin.api_base}/interactions/{submit.id}/{submit.token}/callback"
    async with (
        aiohttp.ClientSession(headers=bot_headers(standin)) as http,
        http.post(url, json={"type": 9, "data": MODAL}) as resp,  # no modal in answer to a modal
    ):
        assert resp.status == 400


async def test_a_modal_after_a_defer_is_refused(standin: StandIn) -> None:
    click = _button_click(standin)
    url = f"{standin.api_base}/interactions/{click.id}/{click.token}/callback"
    async with aiohttp.ClientSession(headers=bot_headers(standin)) as http:
        async with http.post(url, json={"type": 6}) as resp:
            assert resp.status == 204
        async with http.post(url, json={"type": 9, "data": MODAL}) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 40060  # already acknowledged
