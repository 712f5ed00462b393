"""What the quiz, review, progress and scores say, and the case image: pure builders, no Discord calls.

The question image is re-encoded as a PNG named `case-N.png`, so neither the file name nor the image's
metadata gives the answer away.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from PIL import Image

from bot.store.progress import Progress
from bot.store.scores import HINT_COST, Standing
from bot.store.settle import PlayerResult
from engine.contract import DISCLAIMER, Hit

from .game import letter

MESSAGE_MAX_CHARS = 2000
CAPTION_MAX = 900
CASE_MAX_SIDE = 1024
NAMES_MAX = 25  # players named on a reveal; the rest are counted
DISCLAIMER_LINE = f"-# ⚕️ {DISCLAIMER}"
CLOSED = "⌛ This question is closed."


def trim(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at a word break, ending in … when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


def mention(user_id: int) -> str:
    """A mention that shows the name (messages are sent with mentions disabled: nobody is pinged)."""
    return f"<@{user_id}>"


def source_line(hit: Hit) -> str:
    """ROCO id · PMC id · licence."""
    source = hit.source
    pmc = (
        f"[{source.pmc_id}](<https://www.ncbi.nlm.nih.gov/pmc/articles/{source.pmc_id}/>)"
        if source.pmc_id
        else "PMC id unknown"
    )
    return f"`{source.roco_id}` · {pmc} · {source.licence or 'licence unknown'}"


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
@dataclass(frozen=True)
class QuestionCard:
    """What a question message shows."""

    position: int  # 1-based
    total: int
    question: str
    choices: Sequence[str]
    reveal_s: float
    solo: bool


def question_text(card: QuestionCard) -> str:
    """The question, its lettered choices, and how answering works."""
    lines = [f"**Question {card.position}/{card.total}** · {card.question}"]
    lines += [f"**{letter(i)}** · {trim(text, 300)}" for i, text in enumerate(card.choices)]
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
    lines.append(f"-# {how} 💡 Hints cost {HINT_COST} points each.")
    return "\n".join(lines)


def locked_in_text(choice: int, previous: int | None) -> str:
    """The private acknowledgement of a click."""
    if previous is not None and previous != choice:
        return f"🔁 Changed to **{letter(choice)}** (was {letter(previous)}). You can change it until the reveal."
    return f"🔒 Locked in: **{letter(choice)}**. You can change it until the reveal."


def hint_text(level: int, rungs: int, hint: str) -> str:
    """One rung of the hint ladder, privately."""
    return f"💡 Hint {level}/{rungs}: {hint}\n-# Each hint costs {HINT_COST} points if you answer right."


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
    answer_text: str  # the right choice as shown on the question
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
        f"✅ **Question {card.position}/{card.total}: {letter(card.answer_index)}** · {trim(card.answer_text, 300)}"
    )
    if card.item is not None:
        lines.append(f"> {trim(card.item.caption, CAPTION_MAX)}")
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


def fit(text: str) -> str:
    """Cut a message to Discord's 2,000 characters (the disclaimer line is kept)."""
    if len(text) <= MESSAGE_MAX_CHARS:
        return text
    keep = MESSAGE_MAX_CHARS - len(DISCLAIMER_LINE) - 2
    return trim(text, keep) + "\n" + DISCLAIMER_LINE


def running_elsewhere(guild_id: int | None, thread_id: int) -> str:
    """Refusal of a second quiz in a thread, with a link to the running one."""
    where = f"https://discord.com/channels/{guild_id or '@me'}/{thread_id}"
    return f"A quiz is already running in this thread: {where}. Finish or stop it before starting another."


def quiz_header(total: int, kind: str, modality: str | None, starter_id: int) -> str:
    """The message the quiz thread hangs on."""
    what = "caption" if kind == "caption" else "modality"
    scope = f" · {modality}" if modality else ""
    return (
        f"🧠 **Case quiz** · {total} question{'s' * (total != 1)} · guess the {what}{scope} · "
        f"started by {mention(starter_id)}"
    )


# --- review, progress, scores, forget-me -------------------------------------------------
def review_front(due: int) -> str:
    """The front of a review card: only the image."""
    return (
        f"🗂️ **Review** · {due} card{'s' * (due != 1)} due\nWhat does this image show? Think of your answer, "
        "then turn the card."
    )


def review_back(item: Hit | None, atlas_id: str) -> str:
    """The back of a review card: the caption and its source, then how well you remembered."""
    if item is None:
        body = f"`{atlas_id}` (the engine could not give its caption right now)"
    else:
        body = f"> {trim(item.caption, CAPTION_MAX)}\nSource: {source_line(item)} · {item.modality}"
    return f"{body}\nHow well did you remember it?\n{DISCLAIMER_LINE}"


def nothing_due() -> str:
    """No card is due."""
    return "🎉 Nothing is due for review right now. Every case you answer in a `/mirage quiz` becomes a card."


def rated(label: str, due: datetime) -> str:
    """After a rating: when the card comes back."""
    return f"Rated **{label}**. This case comes back <t:{int(due.timestamp())}:R>."


def progress_text(progress: Progress) -> str:
    """Due cards, streak and accuracy by modality."""
    lines = [
        "📈 **Your progress**",
        f"Cards due now: **{progress.due}**",
        f"Streak: **{progress.streak_days}** day{'s' * (progress.streak_days != 1)}",
    ]
    if progress.accuracy:
        lines.append("Accuracy by modality:")
        for modality, acc in sorted(progress.accuracy.items(), key=lambda kv: -kv[1].total):
            lines.append(f"• {modality}: {acc.correct}/{acc.total} ({acc.share:.0%})")
    else:
        lines.append("No quiz answers yet: try `/mirage quiz`.")
    return "\n".join(lines)


def scores_text(weekly: Sequence[Standing], all_time: Sequence[Standing]) -> str:
    """The server's leaderboards."""
    lines = ["🏆 **This week** (since Monday 00:00 UTC)"]
    lines += scoreboard_lines(weekly) or ["No points yet this week."]
    lines.append("🏛️ **All time**")
    lines += scoreboard_lines(all_time) or ["No quizzes played here yet."]
    return fit("\n".join(lines))


FORGET_LABELS = {
    "player_answers": "quiz answers",
    "score_events": "score entries",
    "review_log": "review ratings",
    "review_cards": "review cards",
    "turns": "follow-up questions",
    "jobs": "requests",
    "quizzes_started": "quizzes you started (kept for the others, without your name)",
}


def forget_counts(counts: dict[str, int]) -> str:
    """`3 quiz answers, 2 review cards` (tables with rows only)."""
    parts = [f"{n} {FORGET_LABELS.get(table, table)}" for table, n in counts.items() if n]
    return ", ".join(parts) if parts else "nothing"


def forget_prompt(counts: dict[str, int]) -> str:
    """What forget-me will delete, before the confirm button."""
    return (
        f"🗑️ This deletes everything MIRAGE keeps about you: {forget_counts(counts)}. "
        "It cannot be undone. Confirm with the button below."
    )


def forgotten(counts: dict[str, int]) -> str:
    """After forget-me."""
    return f"🗑️ Done. Deleted: {forget_counts(counts)}."
