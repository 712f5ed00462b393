"""/mirage compare: one side-by-side picture with both captions and both sources."""

from __future__ import annotations

from engine.contract import DISCLAIMER

from .conftest import invoke
from .engine_standin import Plan
from .fakes import FakeInteraction


async def test_compare_posts_one_side_by_side_picture_with_both_captions(engine, services):
    interaction = FakeInteraction(services)
    await invoke(services, "compare", interaction, base="left pleural effusion", subtract="left", add="right")

    (call,) = engine.calls("/v1/compare")
    assert call["body"] == {"query": "left pleural effusion", "subtract": "left", "add": "right", "k": 1}
    body, footer = interaction.thread.messages[1:]
    (picture,) = footer.files
    assert picture.image.size[0] > 1.5 * picture.image.size[1]
    assert "number 1" in picture.description and "number 2" in picture.description
    assert "left pleural effusion − left + right" in body.content.replace("\\", "")
    assert "ROCO_00001" in body.content and "ROCO_00002" in body.content and "PMC1002" in body.content
    assert DISCLAIMER in footer.content
    assert footer.custom_ids == ["mirage:ask", "mirage:img:ROCO_00001", "mirage:img:ROCO_00002"]


async def test_compare_with_no_hits_says_so(engine, services):
    empty = {"query": "a", "subtract": "b", "add": "c", "original": {"hits": []}, "modified": {"hits": []}}
    engine.plan("/v1/compare", Plan(body=empty))
    interaction = FakeInteraction(services)
    await invoke(services, "compare", interaction, base="a", subtract="b", add="c")

    assert "no image" in interaction.thread.text and DISCLAIMER in interaction.thread.text
