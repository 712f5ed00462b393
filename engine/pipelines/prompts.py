"""The LLM prompt of the search pipeline: Dolly's instruction format (DESIGN.md §2).

Dolly v2 was fine-tuned on exactly this layout; the model stops by writing `### End`.
"""

from __future__ import annotations

from collections.abc import Sequence

INTRO = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request."
)
INSTRUCTION_KEY = "### Instruction:"
RESPONSE_KEY = "### Response:"
END_KEY = "### End"


def explain_instruction(query: str, captions: Sequence[str]) -> str:
    """The reference instruction: explain the condition using the captions of the top hits as findings."""
    findings = " ".join(_as_sentence(c) for c in captions if c.strip())
    return f"Explain the condition '{query.strip()}' concisely using these findings: {findings}"


def dolly_prompt(instruction: str) -> str:
    """`instruction` wrapped in Dolly's format, ending where the model's response begins."""
    return f"{INTRO}\n\n{INSTRUCTION_KEY}\n{instruction}\n\n{RESPONSE_KEY}\n"


def cut_at_end(text: str) -> str:
    """The response up to Dolly's stop marker, stripped (loaders usually cut already; this makes sure)."""
    return text.split(END_KEY, 1)[0].strip()


def _as_sentence(caption: str) -> str:
    caption = " ".join(caption.split())
    return caption if caption.endswith((".", "!", "?")) else caption + "."
