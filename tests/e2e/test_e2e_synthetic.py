"""End to end: the picture a student downloads from /mirage generate says it is SYNTHETIC in its PNG text
chunks (model, prompt, seed, the disclaimer), not only in its pixels; the chunks name the model, never a
path on the engine's machine. Read from the file the bot really uploaded to the Discord stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.contract import DISCLAIMER, SYNTHETIC_LABEL
from tests.e2e.answers import wait_for_answer
from tests.e2e.processes import BotProcess, EngineProcess
from tests.e2e.standin import StandIn

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.usefixtures("bot_stays_healthy"),
    pytest.mark.timeout(900),  # the first start builds the tiny models
]

ANSWER_TIMEOUT_S = 120.0


@pytest.mark.parametrize("fast", [True, False])
async def test_the_uploaded_picture_carries_the_synthetic_png_chunks(
    module_standin: StandIn, bot: BotProcess, engine: EngineProcess, test_cache_dir: Path, fast: bool
) -> None:
    prompt = "axial CT of the brain with a bright round mass"
    options = {"prompt": prompt, "seed": 7, "fast": True} if fast else {"prompt": prompt, "seed": 7, "steps": 2}
    record = await module_standin.run_slash("mirage generate", options, user="carol")
    answer = await wait_for_answer(module_standin, record, ANSWER_TIMEOUT_S)
    assert answer.ok, answer.status.content

    (upload,) = answer.files  # the bytes the bot sent in its multipart request
    assert upload.filename.endswith(".png") and upload.content_type == "image/png"
    image = upload.open_image()
    assert image.format == "PNG"
    chunks = image.text
    assert chunks["synthetic"] == "true" and chunks["disclaimer"] == DISCLAIMER
    assert chunks["prompt"] == prompt and chunks["seed"] == "7" and chunks["fast"] == str(fast).lower()
    assert chunks["panels"].startswith(f"left: {SYNTHETIC_LABEL} · seed 7 | right: Nearest real image · ROCO_")
    # the model's public name: the tiny model's folder, never where the engine keeps it
    assert chunks["model"] == "local:diffusion"
    for where in (str(engine.data_dir), str(test_cache_dir), str(Path.home())):
        assert not any(where in value for value in chunks.values()), (where, chunks)
