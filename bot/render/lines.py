"""The lines every kind of answer shares: the education-only line, an image's source, mentions, and
cutting text to Discord's limits. Pure functions; nothing here talks to Discord or the engine."""

from __future__ import annotations

import re

from engine.contract import DISCLAIMER, Hit

MESSAGE_MAX_CHARS = 2000
DISCLAIMER_LINE = f"-# ⚕️ {DISCLAIMER}"
ROCO = "ROCO"  # the collection whose images need no name beside their id
_MARKDOWN = re.compile(r"([\\*_~`|>\[\]()])")  # Discord's formatting characters


def trim(text: str, limit: int) -> str:
    """`text` cut to exactly `limit` characters at most, ending in … when cut (for hard limits: embed
    fields, thread names, alt text, where every character counts)."""
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def trim_words(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at a word break (when one is in the second half), ending in …
    when cut. Kept apart from `trim` on purpose: for reading (captions, choices) a whole last word
    matters more than the last few characters the limit would allow."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


def source_line(hit: Hit) -> str:
    """Atlas id (and its collection, unless ROCO) · PMC id · licence, as one line."""
    source = hit.source
    pmc = (
        f"[{source.pmc_id}](<https://www.ncbi.nlm.nih.gov/pmc/articles/{source.pmc_id}/>)"
        if source.pmc_id
        else "PMC id unknown"
    )
    collection = collection_suffix(source.collection, markdown=True)
    return f"`{source.roco_id}`{collection} · {pmc} · {source.licence or 'licence unknown'}"


def collection_suffix(collection: str | None, *, markdown: bool = False) -> str:
    """" (PMC-OA)" after an image's id when it comes from another collection than ROCO, else nothing
    (ROCO is the atlas's own collection, and an atlas indexed before collections does not say).
    `markdown`: Discord's formatting characters in the name are escaped (it comes from a data file)."""
    if not collection or collection == ROCO:
        return ""
    name = _MARKDOWN.sub(r"\\\1", collection) if markdown else collection
    return f" ({name})"


def mention(user_id: int) -> str:
    """A mention that shows the name (messages are sent with mentions disabled: nobody is pinged)."""
    return f"<@{user_id}>"


def with_disclaimer(text: str) -> str:
    """`text` followed by the education-only line."""
    return f"{text}\n{DISCLAIMER_LINE}" if text else DISCLAIMER_LINE


def fit(text: str) -> str:
    """One message: `text` cut to Discord's 2,000 characters, keeping the education-only line it ends with."""
    if len(text) <= MESSAGE_MAX_CHARS:
        return text
    keep = MESSAGE_MAX_CHARS - len(DISCLAIMER_LINE) - 2
    return trim_words(text, keep) + "\n" + DISCLAIMER_LINE
