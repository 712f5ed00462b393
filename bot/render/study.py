"""What one student's side of the quizzes says, always privately (review cards, re-rating, progress,
forget-me), and the server's leaderboard: pure builders, no Discord calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from fsrs import Rating

from bot.store.progress import Progress
from bot.store.scores import Standing
from engine.contract import Hit

from .lines import DISCLAIMER_LINE, fit, source_line, trim_words
from .quiz import CAPTION_MAX, scoreboard_lines

RATING_LABELS = {Rating.Again: "Again", Rating.Hard: "Hard", Rating.Good: "Good", Rating.Easy: "Easy"}

# --- refusals -----------------------------------------------------------------------------
NOT_YOUR_CARD = "That card is not one of yours."
NO_CARD_TO_RATE = "You didn't answer this case, so there is no review card of yours to rate."
SERVERS_ONLY = "Leaderboards belong to servers; use this in one."
ONLY_WHO_ASKED = "Only the person who asked can confirm this."


def image_unavailable(why: str) -> str:
    """The next card's image could not be fetched."""
    return f"❌ I couldn't fetch the image of your next card ({why})."


# --- review -------------------------------------------------------------------------------
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
        body = f"> {trim_words(item.caption, CAPTION_MAX)}\nSource: {source_line(item)} · {item.modality}"
    return f"{body}\nHow well did you remember it?\n{DISCLAIMER_LINE}"


def nothing_due() -> str:
    """No card is due."""
    return "🎉 Nothing is due for review right now. Every case you answer in a `/mirage quiz` becomes a card."


def rated(rating: Rating, due: datetime) -> str:
    """After a rating: when the card comes back."""
    return f"Rated **{RATING_LABELS[rating]}**. This case comes back <t:{int(due.timestamp())}:R>."


# --- progress and scores --------------------------------------------------------------------
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
    if progress.retention:
        lines.append("Recall FSRS predicts now, by modality (from your ratings and the time since):")
        for modality, kept in sorted(progress.retention.items(), key=lambda kv: kv[1].mean):
            lines.append(f"• {modality}: {kept.mean:.0%} over {kept.cards} card{'s' * (kept.cards != 1)}")
    return "\n".join(lines)


def scores_text(weekly: Sequence[Standing], all_time: Sequence[Standing]) -> str:
    """The server's leaderboards."""
    lines = ["🏆 **This week** (since Monday 00:00 UTC)"]
    lines += scoreboard_lines(weekly) or ["No points yet this week."]
    lines.append("🏛️ **All time**")
    lines += scoreboard_lines(all_time) or ["No quizzes played here yet."]
    return fit("\n".join(lines))


# --- forget-me ----------------------------------------------------------------------------
FORGET_LABELS = {
    "player_answers": "quiz answers",
    "score_events": "score entries",
    "review_log": "review ratings",
    "review_cards": "review cards",
    "turns": "follow-up questions",
    "jobs": "requests",
    "reports": "question reports",
    "thread_queries": "search texts kept with answer threads (the threads stay, without your text)",
    "quizzes_started": "quizzes you started (kept for the others, without your name)",
    "sets_owned": "study sets you made (kept for your server, without your name)",
}


def forget_counts(counts: Mapping[str, int]) -> str:
    """`3 quiz answers, 2 review cards` (tables with rows only)."""
    parts = [f"{n} {FORGET_LABELS.get(table, table)}" for table, n in counts.items() if n]
    return ", ".join(parts) if parts else "nothing"


def forget_prompt(counts: Mapping[str, int]) -> str:
    """What forget-me will delete, before the confirm button."""
    return (
        f"🗑️ This deletes everything MIRAGE keeps about you: {forget_counts(counts)}. "
        "It cannot be undone. Confirm with the button below."
    )


def forgotten(counts: Mapping[str, int]) -> str:
    """After forget-me."""
    return f"🗑️ Done. Deleted: {forget_counts(counts)}."
