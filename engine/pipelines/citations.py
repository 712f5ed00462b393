"""Keeping an LLM's citations honest: only [1]…[k] survive, in code, whatever the prompt said.

Small LLMs invent citations. The answer is scanned for bracketed markers and each is decided here:

- `[2]`, `[ 2 ]`            → citation 2 (spaces inside the brackets are only spacing)
- `[1,2]`, `[1; 2]`, `[1 and 2]` → citations 1 and 2, rewritten as `[1][2]`
- `[1-3]`, `[1–3]`          → citations 1, 2 and 3 (a range's numbers above k are dropped; a
                               reversed or wider-than-10 range is malformed)
- `[0]`, `[12]` with k = 3  → out of range: removed from the text and counted as dropped
- `[2, 12]`                 → `[2]` kept, 12 dropped
- `[Figure 2]`, `[^1]`, `[n=3]` → malformed (a bracket with a digit that is not a citation list):
                               removed and counted, so no unverifiable marker reaches the student
- `(3)`                     → not a citation: parentheses carry content in medical text ("(3 cm)")
- a number cited again      → kept in the text, counted once in the citation list

The answer is grounded only when at least one valid citation remains *and* some words remain besides
the markers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A bracket with a digit inside, short enough to be a marker rather than bracketed prose.
_MARKER = re.compile(r"\[([^\[\]\n]{0,24}\d[^\[\]\n]{0,24})\]")
# What may sit inside a marker: numbers and ranges joined by commas, semicolons or "and".
_LIST = re.compile(r"\s*\d+(?:\s*[-–]\s*\d+)?(?:\s*(?:,|;|and|&)?\s*\d+(?:\s*[-–]\s*\d+)?)*\s*", re.IGNORECASE)
_ITEM = re.compile(r"(\d+)(?:\s*[-–]\s*(\d+))?")
_WORD = re.compile(r"[^\W\d_]{2,}")
# A range wider than this is not a citation of that many sources; treat as malformed.
MAX_RANGE = 10


@dataclass
class CheckedAnswer:
    """An answer after the citation check."""

    text: str
    cited: list[int] = field(default_factory=list)
    out_of_range: list[int] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    repeated: int = 0

    @property
    def grounded(self) -> bool:
        """At least one valid citation and some words besides the markers."""
        return bool(self.cited) and bool(_WORD.search(_MARKER.sub(" ", self.text)))


def check_citations(text: str, k: int) -> CheckedAnswer:
    """Keep only citations 1…k of `text` (see the module doc for every case); markers rewritten as `[n]`."""
    if k < 1:
        raise ValueError(f"k: at least 1 source (got {k})")
    result = CheckedAnswer(text="")
    seen: set[int] = set()

    def replace(match: re.Match[str]) -> str:
        numbers = _numbers(match.group(1))
        if numbers is None:
            result.malformed.append(match.group(0))
            return ""
        kept = []
        for n in numbers:
            if not 1 <= n <= k:
                result.out_of_range.append(n)
                continue
            kept.append(n)
            if n in seen:
                result.repeated += 1
            else:
                seen.add(n)
                result.cited.append(n)
        return "".join(f"[{n}]" for n in dict.fromkeys(kept))

    result.text = _tidy(_MARKER.sub(replace, text))
    return result


def _numbers(inside: str) -> list[int] | None:
    """The numbers a marker's content names, ranges expanded; None when it is not a citation list."""
    if not _LIST.fullmatch(inside):
        return None
    numbers: list[int] = []
    for start, end in _ITEM.findall(inside):
        first = int(start)
        last = int(end) if end else first
        if last < first or last - first >= MAX_RANGE:
            return None
        numbers.extend(range(first, last + 1))
    return numbers


def _tidy(text: str) -> str:
    """Spacing left behind by removed markers: "word [12]." → "word."; runs of spaces → one."""
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return "\n".join(line.strip() for line in text.strip().splitlines())
