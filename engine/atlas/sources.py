"""Several collections in one `engine index` run, under one policy (issue 21 item 1).

Between the readers and `ingest` (steps 2 and 3 only for a screened source: every ROCOv2 and figure
collection; ROCO is not screened, so its images are stored exactly as a ROCO-only run stores them):
1. an id that a collection read earlier in the run already holds is refused, naming both collections
   (`duplicate_id`; the first one keeps the id);
2. a caption in another language is skipped by the quiz filter's own rule (engine/pipelines/quiz_items.py:
   too few A–Z letters or too few common English words): `other_language`. Empty captions go on to
   `ingest`, which counts them (`empty_caption`); short, long or multi-panel captions are kept (they
   are fine for search, the quiz skips them itself);
3. a licence that is missing or not a recognised open licence (Creative Commons, CC0, public domain)
   is `unknown_licence`: refused, so no answer ever shows the image, unless the run allows unknown
   licences; then the image is stored and the licence counted as a warning.
The seen-ids table holds every id of the run (about 100 bytes each: 160 MB at 1.6M).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from engine.atlas.items import DUPLICATE_ID, AtlasItem, Item, SourceProblem
from engine.pipelines.quiz_items import caption_problem

OTHER_LANGUAGE = "other_language"
UNKNOWN_LICENCE = "unknown_licence"
_CC = re.compile(
    r"^(?:cc[\s-]?0|cc[\s-]?zero|public[\s-]domain|pdm|cc[\s-]?by(?:[\s-](?:nc|sa|nd)){0,2})(?:[\s-]?v?\d\.\d)?"
    r"(?:[\s-]?(?:international|generic|unported))?$",
    re.IGNORECASE,
)
_CC_URL = re.compile(r"creativecommons\.org/(?:licenses/(by(?:-(?:nc|sa|nd)){0,2})|publicdomain/(zero|mark))/?(\d\.\d)?",
                     re.IGNORECASE)


def known_licence(text: str | None) -> str | None:
    """The licence in a canonical spelling ("CC BY-NC 4.0", "CC0 1.0", "public domain") when it is a
    recognised open licence, else None."""
    if not text or not text.strip():
        return None
    raw = text.strip()
    url = _CC_URL.search(raw)
    if url:
        kind = (url.group(1) or "").upper() or ("CC0" if url.group(2).lower() == "zero" else "public domain")
        name = f"CC {kind}" if url.group(1) else kind
        return f"{name} {url.group(3)}" if url.group(3) else name
    if not _CC.match(raw):
        return None
    lowered = re.sub(r"[\s_]+", " ", raw.lower())
    if lowered.startswith(("public", "pdm")):
        return "public domain"
    version = re.search(r"\d\.\d", lowered)
    if re.match(r"cc[\s-]?(0|zero)", lowered):
        return "CC0" + (f" {version.group()}" if version else "")
    parts = re.findall(r"\b(nc|sa|nd)\b", lowered.replace("-", " "))
    return "CC BY" + "".join(f"-{p.upper()}" for p in parts) + (f" {version.group()}" if version else "")


@dataclass(frozen=True)
class NamedSource:
    """One collection of a run: its name (in the report's details), its reader (a sized iterable), and
    whether the language and licence screens apply to it (the duplicate-id rule always does)."""

    name: str
    items: Iterable[Item]
    screened: bool = True


class Collections:
    """Named sources read one after the other under the policy above; `len()` sums theirs."""

    def __init__(self, sources: Sequence[NamedSource | tuple[str, Iterable[Item]]], *,
                 allow_unknown_licences: bool = False) -> None:
        self.sources = [s if isinstance(s, NamedSource) else NamedSource(*s) for s in sources]
        self.allow_unknown_licences = allow_unknown_licences
        self.owner: dict[str, str] = {}

    def __len__(self) -> int:
        return sum(len(source.items) for source in self.sources)  # type: ignore[arg-type,misc]  # each reader is sized

    def __iter__(self) -> Iterator[Item]:
        for source in self.sources:
            for item in source.items:
                if isinstance(item, SourceProblem):
                    yield item
                else:
                    yield from self._screen(source, item)

    def _screen(self, source: NamedSource, item: AtlasItem) -> Iterator[Item]:
        name = source.name
        owner = self.owner.setdefault(item.atlas_id, name)
        if owner != name:
            yield SourceProblem(item.atlas_id, DUPLICATE_ID,
                                f"id {item.atlas_id!r} is in both {owner} and {name}; kept from {owner}")
            return
        if not source.screened:
            yield item
            return
        problem = caption_problem(item.caption) if item.caption.strip() else None
        if problem and problem.startswith("not English"):
            yield SourceProblem(item.atlas_id, OTHER_LANGUAGE, f"{name}: caption {problem}")
            return
        licence = known_licence(item.licence)
        if licence is None:
            detail = f"{name}: licence {item.licence!r} is not a recognised open licence" if item.licence \
                else f"{name}: no licence"
            if not self.allow_unknown_licences:
                yield SourceProblem(item.atlas_id, UNKNOWN_LICENCE, detail + " (refused; --allow-unknown-licences keeps it)")
                return
            yield SourceProblem(item.atlas_id, UNKNOWN_LICENCE, detail + " (kept: --allow-unknown-licences)", fatal=False)
        yield replace(item, licence=licence or item.licence)
