"""The reveal's contact sheet and texts, review's rules and buttons: pure, no Discord, no database."""

from __future__ import annotations

import io
import re

import pytest
from fsrs import Rating
from PIL import Image

from bot.render import teach
from bot.render.contact_sheet import PANEL, Panel, contact_sheet_png
from bot.render.lines import DISCLAIMER_LINE, MESSAGE_MAX_CHARS
from bot.requests import ChangeRating, RateCard, Review, ReviewAnswer, ReviewHint, WhyChoice
from bot.rules.quiz import Choice
from bot.rules.review import Pace, review_rating, shuffled_order
from bot.store.progress import QuestionRecap
from bot.ui.quiz_buttons import PERSISTENT_ITEMS as QUIZ_ITEMS
from bot.ui.teach_buttons import CUSTOM_ID_MAX, ReviewLetterButton, decode_scope, encode_scope
from bot.ui.teach_buttons import PERSISTENT_ITEMS as TEACH_ITEMS

from ..conftest import bot_settings
from ..fakes import FakeInteraction


def _png(color: tuple[int, int, int], size: tuple[int, int] = (200, 120)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def test_the_contact_sheet_shows_every_choice_labelled_the_right_one_framed():
    panels = [
        Panel(
            letter,
            _png((200, 0, 0)) if letter != "D" else None,
            f"ROCO_{letter} · PMC1 · CC BY",
            right=letter == "C",
        )
        for letter in "ABCDE"
    ]
    png = contact_sheet_png(panels)
    with Image.open(io.BytesIO(png)) as sheet:
        assert sheet.text["MIRAGE-panels"] == "A,B,C,D,E" and sheet.text["MIRAGE-right"] == "C"
        assert sheet.width >= 3 * PANEL and sheet.height >= 2 * PANEL  # 3 + 2 panels
        rgb = sheet.convert("RGB")
        # the right panel (third in the first row) is framed in green; the others are not
        assert rgb.getpixel((12 + 2 * (PANEL + 12) - 3, 12 + PANEL // 2)) == (46, 204, 113)
        assert rgb.getpixel((12 - 3, 12 + PANEL // 2)) != (46, 204, 113)
        assert rgb.getpixel((12 + PANEL // 2, 12 + PANEL // 2)) == (200, 0, 0)  # A's image itself


def test_a_broken_image_is_a_blank_panel_not_an_error():
    png = contact_sheet_png(
        [Panel("A", b"not an image", "x"), Panel("B", _png((0, 0, 255)), "y", right=True)]
    )
    with Image.open(io.BytesIO(png)) as sheet:
        assert sheet.text["MIRAGE-panels"] == "A,B"
    with pytest.raises(ValueError):
        contact_sheet_png([])


def test_every_caption_is_shown_in_full_within_discords_limits():
    long = "word " * 260  # 1,300 characters each: five do not fit one message
    choices = [Choice(long[:80], f"{letter} {long}".strip(), f"ROCO_{letter}", {"roco_id": f"ROCO_{letter}",
               "pmc_id": "PMC9", "licence": "CC BY"}) for letter in "ABCDE"]  # fmt: skip
    messages = teach.choice_captions(choices, answer_index=2)
    assert all(len(m) <= MESSAGE_MAX_CHARS for m in messages) and len(messages) >= 3
    joined = "\n".join(messages)
    for choice in choices:
        assert choice.full_text in joined  # never cut under CHOICE_MAX
    assert "✅ **C**" in joined and joined.count("✅") == 1 and messages[-1].endswith(DISCLAIMER_LINE)
    assert "ROCO_A · PMC9 · CC BY" in joined


def test_why_asks_what_tells_the_right_image_apart_numbering_the_choices():
    asked = teach.why_question("C", 4)
    assert asked.startswith("What tells the image of C apart from the others?")
    assert "A is [1]" in asked and "D is [4]" in asked


def test_the_recap_names_share_right_most_picked_wrong_and_weakest_modality():
    text = teach.recap_text([QuestionRecap(1, 4, 1, 2, 3, "ct"), QuestionRecap(2, 0, 0, None)], "ct")
    assert "Q1: 1/4 right (25%) · most-picked wrong: **C** (3)" in text
    assert "Q2: nobody answered" in text and "Weakest modality for the group: **ct**" in text
    assert DISCLAIMER_LINE in text


@pytest.mark.parametrize(
    ("correct", "hints", "elapsed", "rating"),
    [
        (False, 0, 1.0, Rating.Again),
        (True, 1, 1.0, Rating.Hard),
        (True, 0, 45.0, Rating.Hard),
        (True, 0, 3.0, Rating.Easy),
        (True, 0, 15.0, Rating.Good),
    ],
)
def test_the_rating_follows_from_the_answer(correct: bool, hints: int, elapsed: float, rating: Rating):
    assert review_rating(correct=correct, hints=hints, elapsed_s=elapsed, pace=Pace(8, 30)) is rating


def test_the_shuffle_is_stable_per_card_version_and_changes_between_reviews():
    assert shuffled_order(5, 7, 3) == shuffled_order(5, 7, 3)
    assert sorted(shuffled_order(5, 7, 3)) == [0, 1, 2, 3, 4]
    assert len({tuple(shuffled_order(5, 7, v)) for v in range(20)}) > 5


@pytest.mark.parametrize(
    "scope",
    [Review(), Review(modality="ct"), Review(topic="pneumothorax"), Review(quiz_id=123456789012345678)],
)
def test_a_review_letter_fits_discords_custom_id_and_reads_back(scope: Review):
    request = ReviewAnswer(10**17, 10**17, 4, 1_900_000_000, scope)
    custom_id = ReviewLetterButton(request).item.custom_id
    assert custom_id is not None and len(custom_id) <= CUSTOM_ID_MAX
    match = re.fullmatch(ReviewLetterButton.__discord_ui_compiled_template__, custom_id)
    assert match is not None and decode_scope(match["scope"]) == scope
    assert decode_scope(encode_scope(scope, 40)) == scope


class _Recorder:
    """Services that only record the request a click hands over."""

    def __init__(self) -> None:
        self.settings = bot_settings("http://127.0.0.1:1", allowed_channel_ids=[])
        self.requests: list[object] = []

    async def handle(self, interaction: object, request: object) -> None:
        self.requests.append(request)


@pytest.mark.parametrize(
    ("custom_id", "request_"),
    [
        ("mirage:quiz:why:77", WhyChoice(77)),
        ("mirage:quiz:missed:9", Review(quiz_id=9)),
        ("mirage:rv:a:5:12:3:1900000000:m=ct", ReviewAnswer(5, 12, 3, 1_900_000_000, Review(modality="ct"))),
        ("mirage:rv:a:5:0:0:1:", ReviewAnswer(5, 0, 0, 1, Review())),
        ("mirage:rv:a:5:12:3:1900000000h2:q=8", ReviewAnswer(5, 12, 3, 1_900_000_000, Review(quiz_id=8), 2)),
        (
            "mirage:rv:h:5:12:1900000000:1:t=ct head",
            ReviewHint(5, 12, 1_900_000_000, 1, Review(topic="ct head")),
        ),
        ("mirage:rv:c:5:13:2", ChangeRating(5, 13, 2)),
        ("mirage:review:rate:5:4:13", RateCard(5, 4, 13)),
        ("mirage:review:rate:5:4", RateCard(5, 4, None)),  # a message from before versions
    ],
)
async def test_a_teach_button_hands_over_its_typed_request(custom_id: str, request_: object):
    services = _Recorder()
    interaction = FakeInteraction(services, user_id=1)
    handled = [
        c for c in (*QUIZ_ITEMS, *TEACH_ITEMS) if re.fullmatch(c.__discord_ui_compiled_template__, custom_id)
    ]
    assert len(handled) == 1, handled
    (item_class,) = handled
    match = re.fullmatch(item_class.__discord_ui_compiled_template__, custom_id)
    item = await item_class.from_custom_id(interaction, None, match)
    assert await item.interaction_check(interaction)
    await item.callback(interaction)
    assert services.requests == [request_]
