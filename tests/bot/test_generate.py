"""/mirage generate: live progress within edit limits, the synthetic image beside the nearest real one."""

from __future__ import annotations

import base64
import io

import pytest

from engine.contract import DISCLAIMER

from .conftest import invoke
from .engine_standin import Plan
from .fakes import FakeInteraction


async def test_progress_is_shown_step_by_step_but_edited_at_most_every_interval(engine, make_services):
    services = make_services(progress_interval_s=0.1)
    engine.plan("/v1/generate", Plan(steps=30, step_delay=0.01))
    interaction = FakeInteraction(services)
    await invoke(services, "generate", interaction, prompt="chest x-ray with pneumothorax", steps=30)

    status = interaction.thread.messages[0]
    shown = [e["content"] for e in status.edits if "content" in e]
    progress = [text for text in shown if text.startswith("🎨 Generating… step")]
    assert progress and all(text.endswith("of 30") for text in progress)
    assert len(progress) < 30  # throttled, not one edit per step
    gaps = [b - a for a, b in zip(status.edit_times, status.edit_times[1:], strict=False)]
    assert all(gap >= 0.08 for gap in gaps[:-1])  # only the final "Done" may come sooner
    assert shown[-1] == "✅ Done."


async def test_the_answer_is_one_side_by_side_picture_labelled_synthetic(engine, services):
    interaction = FakeInteraction(services)
    await invoke(services, "generate", interaction, prompt="axial CT brain", seed=42, steps=12)

    (call,) = engine.calls("/v1/generate")
    assert call["body"] == {"prompt": "axial CT brain", "seed": 42, "steps": 12, "fast": False}
    body, footer = interaction.thread.messages[1:]
    (picture,) = footer.files
    width, height = picture.image.size
    assert width > 1.5 * height  # two panels side by side
    assert "SYNTHETIC" in picture.description
    assert "SYNTHETIC" in body.content and "not a real patient" in body.content
    assert "ROCO_00007" in body.content and "PMC1007" in body.content and "CC BY 4.0" in body.content
    assert "axial CT brain" in footer.content and "seed 42" in footer.content and "12 steps" in footer.content
    assert DISCLAIMER in footer.content
    assert footer.custom_ids == ["mirage:seed:12:0", "mirage:ask", "mirage:img:ROCO_00007"]


async def test_fast_mode_with_too_many_steps_is_refused_with_the_limit(engine, services):
    interaction = FakeInteraction(services)
    await invoke(services, "generate", interaction, prompt="x", steps=30, fast=True)

    # the contract's own check (GenerateRequest), named with the limit, before anything is queued
    assert "steps: between 1 and 8 in fast mode (got 30)" in interaction.ephemeral_text
    assert engine.requests == [] and interaction.channel.threads == []


async def test_without_a_nearest_image_the_synthetic_image_is_posted_alone(engine, services):
    import base64

    from .engine_standin import png_bytes

    result = {
        "prompt": "p",
        "prompt_used": "p",
        "image_png_b64": base64.b64encode(png_bytes((64, 64), "red")).decode(),
        "seed": 1,
        "steps": 4,
        "guidance": 1.5,
        "fast": True,
        "nearest": None,
    }
    engine.plan("/v1/generate", Plan(body=result))
    interaction = FakeInteraction(services)
    await invoke(services, "generate", interaction, prompt="p", fast=True)

    footer = interaction.thread.messages[-1]
    assert footer.files[0].image.size == (64, 64)
    assert footer.custom_ids == ["mirage:seed:4:1", "mirage:ask"]


def _engine_png(size: tuple[int, int] = (64, 64), *, noise: bool = False) -> bytes:
    """A picture as the engine sends it: stamped and carrying the SYNTHETIC text chunks (the engine's own code)."""
    from PIL import Image

    from engine.pipelines.stamp import png_with_metadata, stamp_synthetic

    from .engine_standin import png_bytes

    raw = Image.open(io.BytesIO(png_bytes(size, "gray", noise=noise)))
    return png_with_metadata(
        stamp_synthetic(raw), {"model": "org/sd-radiology", "prompt": "axial CT brain", "seed": 42, "steps": 12}
    )


def _result(picture: bytes, nearest: dict | None) -> dict:
    return {
        "prompt": "axial CT brain", "prompt_used": "axial CT brain", "seed": 42, "steps": 12, "guidance": 7.5,
        "fast": False, "nearest": nearest, "image_png_b64": base64.b64encode(picture).decode(),
    }  # fmt: skip


@pytest.mark.parametrize("with_nearest", [True, False])
async def test_the_uploaded_picture_keeps_the_synthetic_png_text_chunks(engine, services, with_nearest):
    from .engine_standin import hit

    engine.plan("/v1/generate", Plan(body=_result(_engine_png(), hit(7, 0.7) if with_nearest else None)))
    interaction = FakeInteraction(services)
    await invoke(services, "generate", interaction, prompt="axial CT brain", seed=42, steps=12)

    (picture,) = interaction.thread.messages[-1].files
    assert picture.filename.endswith(".png") and picture.data.startswith(b"\x89PNG")
    chunks = picture.image.text
    assert chunks["synthetic"] == "true" and chunks["disclaimer"] == DISCLAIMER
    assert (chunks["model"], chunks["prompt"], chunks["seed"], chunks["steps"]) == (
        "org/sd-radiology", "axial CT brain", "42", "12",
    )  # fmt: skip
    if with_nearest:  # the side-by-side picture says which half is which
        assert chunks["panels"] == "left: SYNTHETIC · seed 42 | right: Nearest real image · ROCO_00007"
    else:
        assert "panels" not in chunks


async def test_a_picture_too_big_for_the_upload_limit_is_shrunk_but_stays_a_marked_png(engine, services):
    engine.plan("/v1/generate", Plan(body=_result(_engine_png((512, 512), noise=True), None)))
    interaction = FakeInteraction(services, filesize_limit=200_000)
    await invoke(services, "generate", interaction, prompt="axial CT brain", seed=42, steps=12)

    (picture,) = interaction.thread.messages[-1].files
    assert len(picture.data) <= 200_000 and picture.image.format == "PNG"  # never a JPEG without the chunks
    assert picture.image.size[0] < 512 and picture.image.text["synthetic"] == "true"
