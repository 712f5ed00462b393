"""What a reveal that teaches and review that tests say: every choice's caption in full under the contact
sheet, the "Why C?" question, the group recap, a review card's front and its verdict. Pure builders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from fsrs import Rating

from bot.rules.quiz import Choice, letter
from bot.store.progress import QuestionRecap

from .lines import DISCLAIMER_LINE, MESSAGE_MAX_CHARS, collection_suffix, trim_words
from .study import RATING_LABELS

CHOICE_MAX = 1800  # one choice's caption at most (one message each when they do not fit together)

# --- refusals -----------------------------------------------------------------------------------
CARD_REMOVED = (
    "🗑️ This card was removed (your review data was deleted), so there is nothing to rate. Nothing changed."
)
ALREADY_RATED = (
    "This card was already rated from this message; nothing changed. `/mirage review` shows what is due."
)
QUESTION_GONE = "I no longer have this question, so I can't explain it. Nothing changed."
NOT_REVEALED = "Wait for the reveal: the explanation would give the answer away."
NO_WHY_FOR_MODALITY = "“Why?” explains caption questions, where every choice is an atlas image."
NO_MORE_HINTS = "💡 There are no more hints for this card."
NOTHING_MISSED = (
    "🎉 You missed no case in that quiz (or answered none), so there is nothing to review from it."
)


def source_text(source: Mapping[str, Any] | None, atlas_id: str | None) -> str:
    """Atlas id (and its collection, unless ROCO) · PMC id · licence as plain text (for a picture's label)."""
    if not source:
        return atlas_id or "source unknown"
    pmc = source.get("pmc_id") or "PMC ?"
    collection = collection_suffix(source.get("collection"))
    return f"{source.get('roco_id') or atlas_id}{collection} · {pmc} · {source.get('licence') or 'licence ?'}"


def choice_captions(choices: Sequence[Choice], answer_index: int) -> list[str]:
    """Every choice in full with its source, the right one marked, as few messages of Discord's size as
    will hold them (a caption is cut only past CHOICE_MAX characters)."""
    blocks = []
    for i, choice in enumerate(choices):
        mark = "✅" if i == answer_index else "▫️"
        source = source_text(choice.source, choice.atlas_id)
        blocks.append(f"{mark} **{letter(i)}** · {trim_words(choice.full_text, CHOICE_MAX)}\n-# {source}")
    messages: list[str] = []
    for block in blocks:
        if messages and len(messages[-1]) + 1 + len(block) <= MESSAGE_MAX_CHARS - len(DISCLAIMER_LINE) - 1:
            messages[-1] += "\n" + block
        else:
            messages.append(block)
    messages[-1] += "\n" + DISCLAIMER_LINE
    return messages


def why_question(right: str, n_choices: int) -> str:
    """What "Why C?" asks the engine, the choices A… being its sources [1]… in order."""
    numbering = ", ".join(f"{letter(i)} is [{i + 1}]" for i in range(n_choices))
    return f"What tells the image of {right} apart from the others? ({numbering})"


# --- the group recap ----------------------------------------------------------------------------
def recap_text(questions: Sequence[QuestionRecap], weakest: str | None) -> str:
    """Per question the share right and the most-picked wrong answer; the group's weakest modality."""
    lines = ["📋 **Group recap**"]
    for q in questions:
        share = (
            f"{q.right}/{q.answered} right ({q.right / q.answered:.0%})" if q.answered else "nobody answered"
        )
        wrong = (
            f" · most-picked wrong: **{letter(q.top_wrong)}** ({q.top_wrong_count})"
            if q.top_wrong is not None
            else ""
        )
        lines.append(f"Q{q.position}: {share}{wrong}")
    if weakest:
        lines.append(f"Weakest modality for the group: **{weakest}**")
    lines.append("-# Review the cases you missed, privately, with the button below.")
    lines.append(DISCLAIMER_LINE)
    return "\n".join(lines)[:MESSAGE_MAX_CHARS]


# --- review -------------------------------------------------------------------------------------
def review_front(due: int, question: str, choices: Sequence[str], scope: str) -> str:
    """A card's front: the question as it was asked, its choices in the card's shuffled order."""
    head = f"🗂️ **Review**{scope} · {due} card{'s' * (due != 1)} to go\n{question}"
    budget = (MESSAGE_MAX_CHARS - len(head) - 120) // max(1, len(choices))
    lines = [head, *(f"**{letter(i)}** · {trim_words(text, budget)}" for i, text in enumerate(choices))]
    lines.append("-# Answer with a letter; the rating follows from your answer (and how fast it came).")
    return "\n".join(lines)


def verdict(
    *, correct: bool, chosen: str, right: str, caption: str, source: str, rating: Rating, due: datetime
) -> str:
    """After an answer in review: right or wrong, the right caption, the rating it earned and when it returns."""
    head = (
        f"✅ **{chosen}** is right." if correct else f"❌ **{chosen}** is not it: the answer is **{right}**."
    )
    return (
        f"{head}\n> {trim_words(caption, 900)}\n-# {source}\n"
        f"Rated **{RATING_LABELS[rating]}**; back <t:{int(due.timestamp())}:R>. "
        f"Change the rating once with a button below if it feels wrong.\n{DISCLAIMER_LINE}"
    )


def review_hint(level: int, rungs: int, rung: Mapping[str, Any], order: Sequence[int]) -> str:
    """One rung of a review card's hint ladder; a struck-out choice named by its letter on this card."""
    if rung.get("kind") == "strike":
        body = f"**{letter(order.index(int(rung['strike'])))}** is not it."
    else:
        body = str(rung.get("text", ""))
    return (
        f"💡 Hint {level}/{rungs}: {body}\n-# A right answer after a hint rates the card Hard. Answer below."
    )


def changed(rating: Rating, due: datetime) -> str:
    """After a rating was changed."""
    return (
        f"Changed to **{RATING_LABELS[rating]}**; back <t:{int(due.timestamp())}:R>. (A rating changes once.)"
    )


def scope_label(modality: str | None, topic: str | None, missed: bool) -> str:
    """` · CT`, ` · “pneumothorax”`, ` · missed cases` or ''."""
    if missed:
        return " · missed cases"
    if topic:
        return f" · “{topic}”"
    return f" · {modality}" if modality else ""


def nothing_due(scope: str) -> str:
    """No card is due in this scope."""
    if not scope:
        return "🎉 Nothing is due for review right now. Every case you answer in a `/mirage quiz` becomes a card."
    return f"🎉 Nothing is due for review{scope} right now."
