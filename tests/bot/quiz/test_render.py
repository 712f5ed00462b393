"""What players read: the case image gives nothing away, reveals carry caption, source and disclaimer,
and long games still fit Discord's 2,000 characters."""

from __future__ import annotations

import io

from PIL import Image, PngImagePlugin

from bot.render import quiz as render
from bot.render import study
from bot.render.lines import MESSAGE_MAX_CHARS
from bot.store.scores import Standing
from bot.store.settle import PlayerResult
from engine.contract import DISCLAIMER, Hit, Source

CAPTION = "Axial CT scan showing a bright round lesion in the upper left"


def _hit() -> Hit:
    return Hit(
        id="ROCO_00042", score=1.0, caption=CAPTION, modality="ct",
        source=Source(roco_id="ROCO_00042", pmc_id="PMC123456", licence="CC BY"),
        image_url="/v1/atlas/ROCO_00042/image",
    )  # fmt: skip


def test_the_case_image_is_a_plain_png_without_the_caption_in_its_metadata() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", CAPTION)
    source = io.BytesIO()
    Image.new("RGB", (3000, 1500), "gray").save(source, format="PNG", pnginfo=info)
    png = render.case_png(source.getvalue())
    assert CAPTION.encode() not in png
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and "Description" not in image.info
    assert image.size == (render.CASE_MAX_SIDE, render.CASE_MAX_SIDE // 2), "downscaled, aspect kept"
    assert render.case_filename(3) == "case-3.png"


def test_question_text_letters_the_choices_and_says_how_to_answer() -> None:
    card = render.QuestionCard(2, 5, "Which caption belongs to this image?", ["one", "two", "three", "four"], 45, False)
    text = render.question_text(card)
    assert "**Question 2/5**" in text
    assert all(f"**{letter}** · {choice}" in text for letter, choice in zip("ABCD", card.choices, strict=True))
    assert "45 s" in text and "Only you see your choice" in text


def test_lock_in_acknowledgements() -> None:
    assert render.locked_in_text(1, None) == "🔒 Locked in: **B**. You can change it until the reveal."
    assert render.locked_in_text(1, 1).startswith("🔒 Locked in: **B**")
    assert render.locked_in_text(3, 0).startswith("🔁 Changed to **D** (was A)")


def test_reveal_names_the_answer_caption_source_winners_and_scoreboard() -> None:
    results = [PlayerResult(1, 2, True, 0, 10, 1), PlayerResult(2, 0, False, 1, 0, 2)]
    board = [Standing(1, 10, 1, 1), Standing(2, 0, 0, 1)]
    text = render.reveal_text(render.RevealCard(1, 3, 2, CAPTION, _hit(), results, board))
    assert "✅ **Question 1/3: C**" in text
    assert f"> {CAPTION}" in text
    assert "`ROCO_00042`" in text and "PMC123456" in text and "CC BY" in text
    assert "Right (1): <@1> · 1 wrong" in text
    assert "🥇 <@1> · 10 pts · 1/1 right" in text and "🥈 <@2> · 0 pts · 0/1 right" in text
    assert DISCLAIMER in text


def test_a_reveal_for_a_hundred_players_fits_one_message_and_keeps_the_disclaimer() -> None:
    results = [PlayerResult(10**17 + n, 0, True, 0, 10, n) for n in range(100)]
    board = [Standing(10**17 + n, 10, 1, 1) for n in range(100)]
    text = render.reveal_text(render.RevealCard(4, 20, 0, CAPTION * 10, _hit(), results, board, note="a note"))
    assert len(text) <= MESSAGE_MAX_CHARS
    assert "and 75 more" in text and "…and 90 more players" in text
    assert text.endswith(DISCLAIMER)


def test_a_reveal_without_the_engine_still_names_the_image() -> None:
    text = render.reveal_text(render.RevealCard(1, 1, 0, "x", None, [], [], fallback_id="ROCO_9"))
    assert "`ROCO_9`" in text and "Nobody answered this one." in text


def test_forget_me_says_what_it_deletes() -> None:
    counts = {"player_answers": 3, "review_cards": 2, "jobs": 0}
    assert "3 quiz answers, 2 review cards" in study.forget_prompt(counts)
    assert study.forgotten({"jobs": 0}) == "🗑️ Done. Deleted: nothing."
