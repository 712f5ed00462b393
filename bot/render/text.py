"""Everything the bot says about search, compare, generate and ask, as plain text: answers, queue
places, help, friendly engine errors. The lines every answer shares (disclaimer, source, trimming) are
`lines.py`'s; the quiz's texts are `quiz.py`'s and review's `study.py`'s.

Answers that carry buttons start with a marked line (`🔎 **Search:** <query>`) from which the buttons
read their query back after a restart; `mark` and `read_mark` are the two halves of that.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from engine.contract import (
    ASK_QUESTION_MAX_CHARS,
    K_MAX,
    QUERY_MAX_CHARS,
    SYNTHETIC_LABEL,
    AskResponse,
    Hit,
)

from ..engine_client import EngineError
from .images import THREAD_NAME_MAX
from .lines import DISCLAIMER_LINE as DISCLAIMER_LINE  # re-exported: the flows end answers with it
from .lines import source_line, trim
from .lines import with_disclaimer as with_disclaimer

SEARCH_MARK = "🔎 **Search:** "
GENERATE_MARK = "🎨 **Generate:** "
CAPTION_MAX = 300
NO_PATIENT_IMAGES = (
    "-# 🔒 Never upload an image that identifies a patient (a name, a face, an ID or a date on it). "
    "MIRAGE keeps neither your image nor its file name."
)

_MARKDOWN = re.compile(r"([\\*_~|`>#\[\]()<@:-])")

HELP_TEXT = f"""**MIRAGE**: radiology images and explanations for study groups.

🔎 `/mirage search query:<text> [k] [modality] [image]`: real ROCO atlas images, a short explanation and \
each image's source; give an `image` instead to find similar ones (never one that identifies a patient).
 e.g. `/mirage search query:pneumothorax on chest x-ray k:4`
⚖️ `/mirage compare base subtract add`: the top image for base and for base − subtract + add.
 e.g. `/mirage compare base:left pleural effusion subtract:left add:right`
🎨 `/mirage generate prompt:<text> [seed] [steps] [fast]`: a **synthetic** image (stamped {SYNTHETIC_LABEL}) \
beside the nearest real one.
 e.g. `/mirage generate prompt:axial CT of the brain with a subdural hematoma fast:True`
💬 `/mirage ask question:<text>`: an answer citing atlas images [1], [2] … In an answer thread, press \
**Ask a follow-up** or @mention me.
 e.g. `/mirage ask question:why is a pneumothorax dark on a chest x-ray?`
🧩 `/mirage quiz [modality] [questions] [kind] [topic|concept]`: a case quiz in a thread, every choice in \
full, hints, ⚠️ Report, a scoreboard (solo in a DM with me).
 e.g. `/mirage quiz modality:CT questions:5` or `/mirage quiz topic:pneumothorax`
🗂️ `/mirage review [modality] [topic]`: your due cases asked again, answered with a letter (spaced repetition), only you see them.
📈 `/mirage progress`: your due cards, streak, accuracy and the recall FSRS predicts, by modality.
🏆 `/mirage scores`: this server's top 10, this week and all time.
🗑️ `/mirage forget-me`: delete your answers, cards and scores (asks first).
🚩 `/mirage reports`: questions reported as unfair here (moderators).
📚 `/mirage set …`: a teacher's set of atlas images (➕ Add to set under hits), played as a quiz in order.

Texts are 1–{QUERY_MAX_CHARS} characters (questions 1–{ASK_QUESTION_MAX_CHARS}); `k` is 1–{K_MAX}. In a DM with me: \
quiz, review, progress, forget-me and help.

{DISCLAIMER_LINE}"""


# --- a restart (bot/drain.py) -------------------------------------------------------------
RESTARTING = "⏳ MIRAGE is restarting; please try again in a minute."
STOPPED_BY_RESTART = "⏹️ The bot is restarting, so your request was stopped. Please run it again in a minute."


# --- marks (state that survives a restart) ---------------------------------------------
def escape(text: str) -> str:
    """Escape Discord markdown and mentions so `unescape` gives the text back exactly."""
    return _MARKDOWN.sub(r"\\\1", text)


def unescape(text: str) -> str:
    """Undo `escape`."""
    return re.sub(r"\\(.)", r"\1", text)


def mark(prefix: str, text: str) -> str:
    """A marked first line carrying `text`."""
    return prefix + escape(text)


def read_mark(content: str, prefix: str) -> str | None:
    """The text carried by a marked line in `content`, or None."""
    for line in content.splitlines():
        if line.startswith(prefix):
            return unescape(line[len(prefix) :]).strip() or None
    return None


# --- pieces of answers -----------------------------------------------------------------
def hit_block(hit: Hit, number: int | str, filename: str | None) -> str:
    """One real image: caption, source, similarity, and which attachment shows it."""
    attachment = f" 📎 `{filename}`" if filename else " (image unavailable)"
    label = f"**{number}.**" if isinstance(number, int) else f"**{number}**"
    return (
        f"{label} {escape(trim(hit.caption, CAPTION_MAX))}\n"
        f"   {source_line(hit)} · {hit.modality} · similarity {hit.score:.2f}{attachment}"
    )


def queue_place(place: int) -> str:
    """Status while waiting in the bot's queue."""
    if place <= 0:
        return "⚙️ Starting…"
    if place == 1:
        return "⏳ You're next in the queue."
    return f"⏳ Place {place} in the queue."


def engine_place(position: int, working: str) -> str:
    """Status while the engine has the job: its own queue place, or working."""
    return working if position <= 0 else f"⏳ The engine is busy: place {position} in its queue."


def progress(step: int, total: int) -> str:
    """Generation progress line."""
    return f"🎨 Generating… step {step} of {total}"


def thread_name(prefix: str, text: str) -> str:
    """A thread title: `Search: pneumothorax…`."""
    return trim(f"{prefix}: {text}".replace("\n", " "), THREAD_NAME_MAX)


# --- failures --------------------------------------------------------------------------
def friendly_error(error: EngineError) -> str:
    """What to tell a user when the engine failed; uses the engine's own message where it has one."""
    code, status = error.code, error.status
    if code == "unreachable":
        return "The MIRAGE engine is not reachable right now. Please try again in a few minutes."
    if code == "timeout":
        return "The engine took too long, so I stopped waiting. Please try again later (or try `fast:True`)."
    if status == 429:
        tries = f" I tried {error.attempts} times." if error.attempts > 1 else ""
        wait = f" It asked to wait {error.retry_after:.0f} s." if error.retry_after else ""
        return f"The engine is busy ({error.message}).{tries}{wait} Please try again in a minute."
    if status == 503:
        return f"The engine is not ready yet ({error.message}). Please try again shortly."
    if status == 401 or status == 403:
        return "The bot could not log in to the engine (token mismatch). Please tell a server admin."
    if code in ("connection_lost", "stream_ended"):
        return "The connection to the engine broke mid-answer. Please try again."
    return f"The engine could not do that: {error.message}"


def invalid_request(error: ValidationError) -> str:
    """A request the contract refused, in the contract's own words (each names the field and the limit)."""
    problems = "; ".join(str(problem["msg"]).removeprefix("Value error, ") for problem in error.errors())
    return f"I can't send that: {problems}"


# --- follow-ups ------------------------------------------------------------------------
UNKNOWN_THREAD = (
    "I don't know this thread, so I have no images to ground an answer in. Start with `/mirage search` "
    "(or `/mirage ask`), then ask your follow-up in the thread it opens."
)
DATABASE_TRY_AGAIN = (
    "I can't reach my memory of this thread right now (the database is busy or down). "
    "Nothing is lost: please try again in a minute."
)
NOTHING_TO_GROUND = "The atlas has no images for that question, so I can't answer it from sources. Try other words."
UNGROUNDED_NOTE = (
    "-# The model's answer could not be tied to these images, so here are their captions instead."
)


def follow_up_header(question: str) -> str:
    """The first line of a follow-up: the question, quoted."""
    return _question_line("Follow-up", question)


def question_header(question: str) -> str:
    """The first line of `/mirage ask` outside a thread."""
    return _question_line("Question", question)


def _question_line(label: str, question: str) -> str:
    return f"💬 **{label}:** {escape(trim(question.replace(chr(10), ' '), 300))}"


def ask_answer(result: AskResponse) -> str:
    """A grounded answer: the answer, then the sources it cited ([n] ROCO id · PMC id · licence), or, when
    nothing valid was cited, the captions themselves with every source."""
    cited = {c.n for c in result.citations} if result.grounded else set(range(1, len(result.sources) + 1))
    sources = [f"[{n}] {source_line(hit)}" for n, hit in enumerate(result.sources, 1) if n in cited]
    parts = [escape(result.answer)]
    if not result.grounded:
        parts.append(UNGROUNDED_NOTE)
    if sources:
        parts.append("**Sources:**\n" + "\n".join(sources))
    return with_disclaimer("\n\n".join(parts))
