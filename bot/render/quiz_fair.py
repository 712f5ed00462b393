"""Texts of fair questions: every choice in full on the question message (within Discord's 2,000
characters), what hints cost, the hint rungs, reports and `/mirage reports`. Pure builders.

Past the limit: when the whole captions of a question do not fit in one message, the longest are cut
at a word with "…" (short ones keep all their words, the space they leave goes to the long ones), and
the reveal shows every caption in full.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.rules.quiz import LETTERS, letter
from bot.rules.quiz_fair import REASON_LABELS, ReportReason
from bot.store.reports import ReportedItem
from engine.contract import QuizHint

from .lines import DISCLAIMER_LINE, MESSAGE_MAX_CHARS, fit, trim_words

CHOICE_PREFIX = "**A** · "  # every choice line starts so (its letter differs)
CHOICE_MIN_CHARS = 40  # a choice is never cut shorter than this, whatever the others need
CUT_NOTE = "-# Choices cut with … are shown in full at the reveal."


# --- the question ---------------------------------------------------------------------------
def fair_shares(lengths: Sequence[int], budget: int) -> list[int]:
    """Characters each choice may use so all fit in `budget`: short ones whole, the rest shared evenly
    among the long ones (never below CHOICE_MIN_CHARS)."""
    shares = [0] * len(lengths)
    left, remaining = budget, len(lengths)
    for index in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        share = max(left // remaining, CHOICE_MIN_CHARS) if remaining else 0
        shares[index] = min(lengths[index], share)
        left -= shares[index]
        remaining -= 1
    return shares


def choice_lines(choices: Sequence[str], budget: int) -> tuple[list[str], bool]:
    """One line per choice, `**A** · whole text`, all together within `budget` characters (newlines
    included); True when any was cut."""
    overhead = len(CHOICE_PREFIX) + 1  # the letter and the newline
    texts = [" ".join(text.split()) for text in choices]
    shares = fair_shares([len(t) for t in texts], budget - overhead * len(texts))
    lines = [f"**{letter(i)}** · {trim_words(t, max(share, 1))}" for i, (t, share) in enumerate(zip(texts, shares, strict=True))]
    return lines, any(share < len(t) for t, share in zip(texts, shares, strict=True))


def cost_line(ladder: Sequence[int]) -> str:
    """What hints cost: `💡 Hints cost points: a right answer is worth 10, 7 after 1 hint, 4 after 2, 2 after 3.`"""
    if len(ladder) < 2:
        return "💡 No hints on this question."
    after = ", ".join(f"{p} after {n} hint{'s' * (n != 1)}" for n, p in enumerate(ladder) if n)
    return f"💡 Hints cost points: a right answer is worth {ladder[0]}, {after}."


def question_body(head: str, choices: Sequence[str], footer: Sequence[str]) -> str:
    """The question message: its head line, every choice in full (cut fairly only past Discord's limit,
    then with a note), and its footer lines."""
    fixed = len(head) + sum(len(line) + 1 for line in footer) + 1
    lines, cut = choice_lines(choices, MESSAGE_MAX_CHARS - fixed - len(CUT_NOTE) - 1)
    return "\n".join([head, *lines, *([CUT_NOTE] if cut else []), *footer])


# --- hints ---------------------------------------------------------------------------------
def hint_text(level: int, rungs: int, text: str, rung: QuizHint | None, ladder: Sequence[int]) -> str:
    """One rung of the ladder, privately: what the image shows, or a wrong choice struck out; and what
    a right answer is worth now."""
    if rung is not None and rung.kind == "strike" and rung.strike is not None and 0 <= rung.strike < len(LETTERS):
        body = f"❌ **{letter(rung.strike)}** is not the answer — strike it out."
    elif rung is not None and rung.kind == "shows":
        body = f"🔎 {text}"
    else:
        body = text
    worth = f" A right answer is now worth {ladder[min(level, len(ladder) - 1)]} points." if ladder else ""
    return f"💡 Hint {level}/{rungs}: {body}\n-#{worth or ' Hints cost points if you answer right.'}"


# --- reports ---------------------------------------------------------------------------------
REPORT_ASK = (
    "⚠️ **What is wrong or unfair about this question?** Pick one reason (only you see this). A question "
    "reported by a moderator or by two students is not asked again in this server."
)
REPORT_GONE = "⚠️ That question no longer exists (its quiz was deleted), so there is nothing to report. Nothing was changed."
REPORTS_ONLY_MODERATORS = "Only members who can manage messages here can see this server's question reports."
REPORTS_NOT_IN_DMS = "Question reports are kept per server: use `/mirage reports` in the server."
NO_REPORTS = "📋 Nobody has reported a quiz question in this server yet."


def report_thanks(reason: ReportReason, *, retired: bool, moderator: bool) -> str:
    """The private acknowledgement of a new report."""
    what = (
        "It will not be asked again in this server."
        if retired
        else "If one more student reports it, it is not asked again in this server."
    )
    who = " (as a moderator)" if moderator else ""
    return f"✅ Thanks — reported{who}: *{reason.label}*. {what}"


def report_again(reason: ReportReason, *, retired: bool) -> str:
    """A second report by the same student: idempotent."""
    state = "It is no longer asked in this server." if retired else "Nothing was changed."
    return f"ℹ️ You already reported this question (*{reason.label}*). {state}"


def reports_text(items: Sequence[ReportedItem], total: int) -> str:
    """`/mirage reports`: the server's reported items, newest first (a `ReportedItem` each)."""
    if not items:
        return NO_REPORTS
    lines = [f"📋 **Reported quiz questions** · {total} item{'s' * (total != 1)}"]
    for item in items:
        reasons = ", ".join(f"{REASON_LABELS[r].lower()} ×{n}" for r, n in item.reasons.items())
        status = "🚫 retired" if item.retired else "👀 still asked"
        who = f"{item.students} student{'s' * (item.students != 1)}"
        if item.moderators:
            who += f", {item.moderators} moderator{'s' * (item.moderators != 1)}"
        when = f"<t:{int(item.last_at.timestamp())}:R>"
        lines.append(f"• `{item.atlas_id}` · {status} · {who} · {reasons} · last {when}")
    if total > len(items):
        lines.append(f"-# …and {total - len(items)} more items.")
    lines.append(DISCLAIMER_LINE)
    return fit("\n".join(lines))


# --- starting a pool quiz --------------------------------------------------------------------
def pool_refused(problem: str) -> str:
    """A quiz the bot will not ask the engine for, and why."""
    return f"❌ {problem}"


ALL_RETIRED = (
    "every image the atlas offered for this quiz was reported as unfair in this server; ask a moderator to "
    "look at `/mirage reports`, or choose another topic or modality"
)


def too_few_items(message: str) -> str:
    """The engine's 409 `too_few_items`, for the student."""
    return f"❌ There are not enough atlas images for this quiz: {message}"


def pool_scope(topic: str | None, concept: str | None) -> str:
    """The header's note on a topic or concept quiz."""
    if topic:
        return f" · topic “{trim_words(topic, 80)}”"
    if concept:
        return f" · concept `{concept}`"
    return ""

