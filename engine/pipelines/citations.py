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
the markers. In a follow-up, a sentence repeated from an earlier turn's answer does not ground the new
one (`own_citations`): its markers numbered that turn's sources, not this request's.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

# A bracket with a digit inside, short enough to be a marker rather than bracketed prose.
_MARKER = re.compile(r"\[([^\[\]\n]{0,24}\d[^\[\]\n]{0,24})\]")
# What may sit inside a marker: numbers and ranges joined by commas, semicolons or "and".
_LIST = re.compile(r"\s*\d+(?:\s*[-–]\s*\d+)?(?:\s*(?:,|;|and|&)?\s*\d+(?:\s*[-–]\s*\d+)?)*\s*", re.IGNORECASE)
_ITEM = re.compile(r"(\d+)(?:\s*[-–]\s*(\d+))?")
_WORD = re.compile(r"[^\W\d_]{2,}")
# A range wider than this is not a citation of that many sources; treat as malformed.
MAX_RANGE = 10
# A sentence of at least this many words found in an earlier answer counts as repeated from it.
MIN_COPIED_WORDS = 3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


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


def dropped_notes(checked: CheckedAnswer, k: int, earlier: Collection[int] = ()) -> list[str]:
    """What the check removed, in words for an answer's notes; numbers in `earlier` (an earlier turn's
    citations) are named as copied from it."""
    notes = []
    outside = list(dict.fromkeys(checked.out_of_range))
    copied = [n for n in outside if n in earlier]
    if copied:
        numbers = ", ".join(f"[{n}]" for n in copied)
        notes.append(f"dropped citations copied from an earlier turn: {numbers} numbered that turn's sources; "
                     f"this answer's are [1]…[{k}]")
    if len(copied) < len(outside):
        numbers = ", ".join(f"[{n}]" for n in outside if n not in earlier)
        notes.append(f"dropped citations outside [1]…[{k}]: {numbers}")
    if checked.malformed:
        notes.append(f"dropped markers that are not citations: {', '.join(checked.malformed)}")
    return notes


def strip_markers(text: str) -> str:
    """`text` without any bracketed marker (valid or not): what CLIP embeds of a cited explanation,
    and how an earlier turn's answer enters a later prompt (its numbers meant that turn's sources)."""
    return _tidy(_MARKER.sub("", text))


def marker_numbers(text: str) -> set[int]:
    """Every number a well-formed marker of `text` names (ranges expanded): e.g. an earlier turn's citations."""
    numbers: set[int] = set()
    for inside in _MARKER.findall(text):
        numbers.update(_numbers(inside) or [])
    return numbers


def own_citations(text: str, earlier: Sequence[str]) -> list[int]:
    """The citations of a checked `text` made in its own sentences: a sentence repeated from one of the
    `earlier` answers (same words, markers aside) carries that answer's markers, which numbered another
    request's sources, so its citations do not ground this answer."""
    copied = [f" {_words(answer)} " for answer in earlier]
    own: list[int] = []
    for sentence in _SENTENCE_END.split(text):
        words = _words(sentence)
        if len(words.split()) >= MIN_COPIED_WORDS and any(f" {words} " in answer for answer in copied):
            continue
        own.extend(int(n) for n in re.findall(r"\[(\d+)\]", sentence))
    return list(dict.fromkeys(own))


def _words(text: str) -> str:
    """The words of `text`, lower case, one space apart, markers and punctuation left out."""
    return " ".join(re.findall(r"[^\W_]+", _MARKER.sub(" ", text).lower()))
