"""What a quiz says, and its case image: pure builders, no Discord calls.

The question image is re-encoded as a PNG named `case-N.png`, so neither the file name nor the image's
metadata gives the answer away. Review, progress, scores and forget-me are `study.py`'s.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from bot.rules.quiz import letter
from bot.store.scores import Standing
from bot.store.settle import PlayerResult
from engine.contract import QUIZ_POINTS_BY_HINTS, Hit

from .lines import DISCLAIMER_LINE, fit, mention, source_line, trim_words
from .quiz_fair import cost_line, question_body

CAPTION_MAX = 900
CASE_MAX_SIDE = 1024
NAMES_MAX = 25  # players named on a reveal; the rest are counted

# --- refusals and notes -------------------------------------------------------------------
CLOSED = "⌛ This question is closed."
NO_HINTS = "💡 There are no hints for this question."
QUIZ_ENDED = "This quiz has already ended."
ONLY_STARTER = "Only the person who started this quiz, or someone who can manage messages here, can stop it."
STOPPING = "🛑 Stopping the quiz."
NEED_THREADS = (
    "❌ I need the *Create Public Threads* and *Send Messages in Threads* permissions here to run a quiz."
)
RESTART_NOTE = "This question's timer ran out while I was restarting, so here is its answer now."
DISCORD_REFUSED = "Discord refused the message"


def cannot_go_on(why: str) -> str:
    """A question could not be fetched or posted: the quiz ends here."""
    return f"❌ I couldn't go on with this quiz ({why}). It ends here."


def running_elsewhere(guild_id: int | None, thread_id: int) -> str:
    """Refusal of a second quiz in a thread, with a link to the running one."""
    where = f"https://discord.com/channels/{guild_id or '@me'}/{thread_id}"
    return f"A quiz is already running in this thread: {where}. Finish or stop it before starting another."


# --- the case image -------------------------------------------------------------------
def case_filename(position: int) -> str:
    """The upload name of question `position` (1-based): nothing in it hints at the answer."""
    return f"case-{position}.png"


def case_png(data: bytes) -> bytes:
    """The image as a plain PNG (no metadata), at most CASE_MAX_SIDE pixels a side. CPU work: run in a thread."""
    with Image.open(io.BytesIO(data)) as source:
        image = source.convert("RGB") if source.mode not in ("L", "RGB") else source.copy()
    image.thumbnail((CASE_MAX_SIDE, CASE_MAX_SIDE))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


# --- a question -----------------------------------------------------------------------
def quiz_header(total: int, kind: str, modality: str | None, starter_id: int) -> str:
    """The message the quiz thread hangs on."""
    what = "caption" if kind == "caption" else "modality"
    scope = f" · {modality}" if modality else ""
    return (
        f"🧠 **Case quiz** · {total} question{'s' * (total != 1)} · guess the {what}{scope} · "
        f"started by {mention(starter_id)}"
    )


def thread_name(modality: str | None) -> str:
    """The name of a new quiz thread."""
    return f"Case quiz{f' · {modality}' if modality else ''}"


@dataclass(frozen=True)
class QuestionCard:
    """What a question message shows."""

    position: int  # 1-based
    total: int
    question: str
    choices: Sequence[str]  # every choice's whole text (quiz_fair cuts them only past Discord's limit)
    reveal_s: float
    solo: bool
    points_by_hints: Sequence[int] = QUIZ_POINTS_BY_HINTS  # the engine's points for this question


def question_text(card: QuestionCard) -> str:
    """The question, its lettered choices, and how answering works."""
    if card.solo:
        how = "Pick a letter; the answer shows as soon as you do."
    elif card.position == 1:
        how = (
            f"Click a letter to join and answer (only you see your choice; change it until the reveal). "
            f"Reveal in {card.reveal_s:g} s."
        )
    else:
        how = (
            f"Only you see your choice; change it until the reveal. Reveal when everyone playing has "
            f"answered, or in {card.reveal_s:g} s."
        )
    footer = [f"-# {how}", f"-# {cost_line(card.points_by_hints)} ⚠️ *Report* flags an unfair question."]
    return question_body(f"**Question {card.position}/{card.total}** · {card.question}", card.choices, footer)


def locked_in_text(choice: int, previous: int | None) -> str:
    """The private acknowledgement of a click."""
    if previous is not None and previous != choice:
        return f"🔁 Changed to **{letter(choice)}** (was {letter(previous)}). You can change it until the reveal."
    return f"🔒 Locked in: **{letter(choice)}**. You can change it until the reveal."


def no_more_hints(rungs: int) -> str:
    """The ladder is used up."""
    return f"💡 You have had all {rungs} hints for this question."


# --- the reveal -----------------------------------------------------------------------
@dataclass(frozen=True)
class RevealCard:
    """What a reveal message shows."""

    position: int
    total: int
    answer_index: int
    answer_text: str  # the right choice in full
    item: Hit | None  # the asked image (full caption, source); None when the engine could not say
    results: Sequence[PlayerResult]
    board: Sequence[Standing]
    note: str | None = None
    fallback_id: str = ""  # the atlas id, named when `item` is missing


def _names(user_ids: Sequence[int]) -> str:
    shown = ", ".join(mention(u) for u in user_ids[:NAMES_MAX])
    more = len(user_ids) - NAMES_MAX
    return shown + (f" and {more} more" if more > 0 else "")


def scoreboard_lines(board: Sequence[Standing], limit: int = 10) -> list[str]:
    """The top of a scoreboard, one line per player."""
    medals = ["🥇", "🥈", "🥉"]
    lines = []
    for rank, s in enumerate(board[:limit]):
        badge = medals[rank] if rank < len(medals) else f"{rank + 1}."
        lines.append(f"{badge} {mention(s.user_id)} · {s.points} pts · {s.correct}/{s.answered} right")
    if len(board) > limit:
        lines.append(f"-# …and {len(board) - limit} more players")
    return lines


def reveal_text(card: RevealCard) -> str:
    """The right answer, the full caption and its source, who got it right, the running scoreboard."""
    right = [o.user_id for o in card.results if o.correct]
    wrong = len(card.results) - len(right)
    lines = []
    if card.note:
        lines.append(f"ℹ️ {card.note}")
    lines.append(
        f"✅ **Question {card.position}/{card.total}: {letter(card.answer_index)}** · "
        f"{trim_words(card.answer_text, 300)}"
    )
    if card.item is not None:
        lines.append(f"> {trim_words(card.item.caption, CAPTION_MAX)}")
        lines.append(f"Source: {source_line(card.item)} · {card.item.modality}")
    else:
        lines.append(f"Source: `{card.fallback_id}` (the engine could not give its caption right now)")
    if not card.results:
        lines.append("Nobody answered this one.")
    elif right:
        lines.append(f"Right ({len(right)}): {_names(right)}" + (f" · {wrong} wrong" if wrong else ""))
    else:
        lines.append(f"Nobody got it right ({wrong} answered).")
    if card.board:
        lines.append("**Scoreboard**")
        lines += scoreboard_lines(card.board)
    lines.append("-# Rate this case for your own review (only counts for you):")
    lines.append(DISCLAIMER_LINE)
    return fit("\n".join(lines))


def final_text(board: Sequence[Standing], *, answered: int, total: int, stopped_by: int | None) -> str:
    """The end of a quiz: why it ended and the final scoreboard."""
    if stopped_by is not None:
        head = f"🛑 Quiz stopped by {mention(stopped_by)} after {answered} of {total} questions."
    else:
        head = f"🏁 Quiz over: {total} questions."
    lines = [head]
    if board:
        lines.append("**Final scoreboard**")
        lines += scoreboard_lines(board)
    else:
        lines.append("Nobody answered.")
    lines.append("-# Every case you answered is now a review card: `/mirage review` brings them back when due.")
    lines.append(DISCLAIMER_LINE)
    return fit("\n".join(lines))
