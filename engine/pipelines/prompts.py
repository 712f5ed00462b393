"""The LLM prompts: what each pipeline asks, and the one place that decides the prompt format.

Format (docs/ARCHITECTURE.md §2): a model whose tokenizer carries a chat template (today's small instruct models:
Qwen2.5, Llama 3.x, Phi-3.5) is prompted through that template; otherwise Dolly's instruction
format, which Dolly v2 was fine-tuned on (it stops by writing `### End`). The default LLM is Dolly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.models.base import END_KEY, Message, Prompt

from .citations import strip_markers

INTRO = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request."
)
INSTRUCTION_KEY = "### Instruction:"
RESPONSE_KEY = "### Response:"
SYSTEM = (
    "You are MIRAGE, a radiology tutor for medical students. Answer briefly, from the findings you are "
    "given, for education, not diagnosis."
)
# A caption longer than this is cut (at a word) in the ask prompt, so ten of them fit the context.
ASK_CAPTION_PROMPT_CHARS = 400
EARLIER_HEADING = "Earlier in this conversation (for context only; it is not a finding and is not cited):"


@dataclass(frozen=True)
class EarlierTurn:
    """A turn of the thread before this question, as the prompt shows it: its markers numbered another
    request's sources, so they are taken out (`plain`), and its brackets become parentheses."""

    question: str
    answer: str

    @classmethod
    def plain(cls, question: str, answer: str) -> EarlierTurn:
        """The turn with its citation markers removed and no square bracket left (nothing reads as a finding)."""
        return cls(_unbracketed(" ".join(question.split())), _unbracketed(strip_markers(answer)))

    def as_text(self) -> str:
        """The turn as Dolly's prompt carries it (and as its tokens are counted against the history bound)."""
        return f"Student: {self.question}\nTutor: {self.answer}"


def render_prompt(llm: object | None, instruction: str, *, system: str = SYSTEM) -> Prompt:
    """`instruction` as `llm` should see it: the system and user turns, and their text through the
    model's chat template when it has one, else Dolly's format.

    A generator offers its template as `chat_prompt(messages) -> str | None` (None: no template);
    generators without that method (fakes, a served LLM, other backends) get Dolly's format as text.
    A served LLM in chat mode sends the messages and lets its server apply the template.
    """
    messages = ({"role": "system", "content": system}, {"role": "user", "content": instruction})
    chat = getattr(llm, "chat_prompt", None)
    rendered = chat(messages) if callable(chat) else None
    return Prompt(dolly_prompt(instruction) if rendered is None else rendered, messages)


def explain_instruction(query: str, captions: Sequence[str]) -> str:
    """The reference instruction: explain the condition using the captions of the top hits as findings,
    numbered [1]…[k] and cited, so the explanation is checked like an answer (engine/pipelines/citations.py)."""
    numbered, k = _numbered(captions), len(captions)
    return (
        f"Explain the condition '{query.strip()}' concisely using these findings, citing each statement's "
        f"findings by their numbers in square brackets, like {_example(k)}; cite only numbers from 1 to {k}."
        f"\n\nFindings:\n{numbered}"
    )


def ask_prompt(llm: object | None, question: str, captions: Sequence[str], history: Sequence[EarlierTurn] = ()) -> Prompt:
    """The follow-up prompt with the thread's earlier turns: through a chat template (and for a served
    chat model) they are the conversation's own user and assistant turns before this question; in
    Dolly's format, which has one instruction, they are a block inside it. The findings sit with this
    question in both, so this request's numbering is the only one the model sees."""
    instruction = ask_instruction(question, captions)
    turns: list[Message] = []
    for turn in history:
        turns += [{"role": "user", "content": turn.question}, {"role": "assistant", "content": turn.answer}]
    messages = ({"role": "system", "content": SYSTEM}, *turns, {"role": "user", "content": instruction})
    chat = getattr(llm, "chat_prompt", None)
    rendered = chat(messages) if callable(chat) else None
    if rendered is not None:
        return Prompt(rendered, messages)
    if history:
        earlier = "\n".join(turn.as_text() for turn in history)
        instruction = f"{EARLIER_HEADING}\n{earlier}\n\n{instruction}"
    return Prompt(dolly_prompt(instruction), messages)


def ask_instruction(question: str, captions: Sequence[str]) -> str:
    """A follow-up question over captions numbered [1]…[k], asking for an answer that cites them."""
    k = len(captions)
    numbered = _numbered(captions)
    example = _example(k)
    return (
        "Answer the student's question using only the numbered findings below; they are the captions "
        f"of the atlas images the student is looking at. After each statement, cite the findings it "
        f"comes from by their numbers in square brackets, like {example}. Cite only numbers from 1 to "
        f"{k}. If the findings do not answer the question, say so.\n\n"
        f"Findings:\n{numbered}\n\nQuestion: {' '.join(question.split())}"
    )


def dolly_prompt(instruction: str) -> str:
    """`instruction` wrapped in Dolly's format, ending where the model's response begins."""
    return f"{INTRO}\n\n{INSTRUCTION_KEY}\n{instruction}\n\n{RESPONSE_KEY}\n"


def cut_at_end(text: str) -> str:
    """The response up to Dolly's stop marker, stripped (loaders usually cut already; this makes sure)."""
    return text.split(END_KEY, 1)[0].strip()


def _numbered(captions: Sequence[str]) -> str:
    """The captions as findings [1]…[k], one a line, each cut to ASK_CAPTION_PROMPT_CHARS."""
    # a caption's own brackets ("[3]", a literature reference) would read as one of our markers
    plain = [_unbracketed(_as_sentence(c)) for c in captions]
    return "\n".join(f"[{n}] {_cut_words(c, ASK_CAPTION_PROMPT_CHARS)}" for n, c in enumerate(plain, 1))


def _example(k: int) -> str:
    return "[1]" if k == 1 else "[1] or [1][2]"


def _unbracketed(text: str) -> str:
    return text.replace("[", "(").replace("]", ")")


def _as_sentence(caption: str) -> str:
    caption = " ".join(caption.split())
    return caption if caption.endswith((".", "!", "?")) else caption + "."


def _cut_words(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at a word boundary, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(",;: ") + "…"
