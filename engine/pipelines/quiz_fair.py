"""Fair distractors (docs/ARCHITECTURE.md §7): a wrong choice that no student could defend as right.

A candidate caption (an atlas image near the item in CLIP image space) is refused when:
1. it comes from the same PubMed Central article as the item or as a distractor already picked
   (sibling panels of one figure look alike and are captioned alike: two defensible answers);
2. after normalisation (case, punctuation, spacing) it is the same text as the right caption or a picked one;
3. its CLIP text cosine to the right caption exceeds the distractor threshold
   (MIRAGE_QUIZ_DISTRACTOR_THRESHOLD), or to a picked distractor the near-duplicate threshold;
4. where concepts are known, it shares a finding concept with the item:
   - data that maps each CUI to its semantic type (ROCOv2-style mapping with a TUI column): the
     concepts of the UMLS Disorders group (DISORDERS_TUIS) are findings;
   - ROCO's files list CUIs and semantic types side by side without saying which is which: every CUI
     is a finding except the modality, view and procedure concepts of NON_FINDING_CUIS.
   A point without concepts (indexed before them) is judged by rules 1–3 only.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.store.base import AtlasPayload, StoredHit

# Modality, view and procedure concepts: ROCO tags most captions with them, and two captions that share
# only "X-Ray Computed Tomography" name no common finding. Extend with care: each CUI here stops counting
# as a finding for every ROCO-style atlas.
NON_FINDING_CUIS: dict[str, str] = {
    "C0040405": "X-Ray Computed Tomography",
    "C0040395": "Tomography",
    "C0024485": "Magnetic Resonance Imaging",
    "C0041618": "Ultrasonography",
    "C0034571": "Radiography (X-ray)",
    "C0043299": "Diagnostic radiologic examination",
    "C1306645": "Plain x-ray",
    "C0002978": "Angiogram",
    "C0032743": "Positron-Emission Tomography",
    "C0011923": "Diagnostic Imaging",
    "C1696103": "Image (dosage form)",
}
# UMLS semantic group Disorders (DISO): the semantic types whose concepts name a finding.
DISORDERS_TUIS: frozenset[str] = frozenset({
    "T020", "T190", "T049", "T019", "T047", "T050", "T033", "T037", "T048", "T191", "T046", "T184",
})
_NOT_WORD = re.compile(r"[^0-9a-z]+")

# why a candidate was refused (counted for `engine eval`)
SAME_ARTICLE, SAME_TEXT, TOO_CLOSE, SHARED_FINDING = "same_article", "same_text", "too_close", "shared_finding"


def normalise(text: str) -> str:
    """Lower case, every run of non-alphanumerics one space: "Axial CT, (arrow)." → "axial ct arrow"."""
    return _NOT_WORD.sub(" ", text.lower()).strip()


def finding_cuis(payload: AtlasPayload) -> set[str]:
    """The CUIs of the caption that name a finding (see the module doc); empty when none are known."""
    concepts = payload.concepts
    if any(c.get("semtype") for c in concepts):
        return {str(c["cui"]) for c in concepts if c.get("semtype") in DISORDERS_TUIS}
    return {str(c["cui"]) for c in concepts} - NON_FINDING_CUIS.keys()


@dataclass
class DistractorRules:
    """The rules above for one item; `pick` walks candidates best first and keeps the fair ones."""

    item: StoredHit
    threshold: float  # rule 3, to the right caption
    dedup_threshold: float  # rule 3, between distractors
    refused: Counter[str] = field(default_factory=Counter)

    def pick(self, candidates: Sequence[tuple[StoredHit, str]], n: int,
             text_vector: Callable[[str], np.ndarray]) -> list[tuple[StoredHit, str]]:
        """The first `n` fair (hit, flat caption) pairs of `candidates`, in their order."""
        item = self.item.payload
        right = " ".join(item.caption.split())
        articles = {item.pmc_id} - {None}
        texts = {normalise(right)}
        item_findings = finding_cuis(item)
        right_vector = text_vector(right)
        picked: list[tuple[StoredHit, str]] = []
        for hit, text in candidates:
            if len(picked) == n:
                break
            reason = self._refusal(hit.payload, text, articles, texts, item_findings, right_vector,
                                   [text_vector(t) for _, t in picked], text_vector)
            if reason:
                self.refused[reason] += 1
                continue
            picked.append((hit, text))
            articles |= {hit.payload.pmc_id} - {None}
            texts.add(normalise(text))
        return picked

    def _refusal(self, payload: AtlasPayload, text: str, articles: set[str | None], texts: set[str],
                 item_findings: set[str], right_vector: np.ndarray, picked_vectors: list[np.ndarray],
                 text_vector: Callable[[str], np.ndarray]) -> str | None:
        if payload.pmc_id is not None and payload.pmc_id in articles:
            return SAME_ARTICLE
        if normalise(text) in texts:
            return SAME_TEXT
        if item_findings & finding_cuis(payload):
            return SHARED_FINDING
        vector = text_vector(text)
        if float(vector @ right_vector) > self.threshold:
            return TOO_CLOSE
        if any(float(vector @ v) > self.dedup_threshold for v in picked_vectors):
            return SAME_TEXT
        return None


def fairness_problems(item: StoredHit, distractors: Sequence[StoredHit]) -> list[str]:
    """What breaks rules 1, 2 and 4 in a finished question (for tests and `engine eval`): empty when fair."""
    problems = []
    right = item.payload
    seen_articles = {right.pmc_id} - {None}
    seen_texts = {normalise(right.caption)}
    findings = finding_cuis(right)
    for hit in distractors:
        p = hit.payload
        if p.pmc_id is not None and p.pmc_id in seen_articles:
            problems.append(f"{hit.atlas_id}: same article {p.pmc_id}")
        if normalise(p.caption) in seen_texts:
            problems.append(f"{hit.atlas_id}: same text")
        shared = findings & finding_cuis(p)
        if shared:
            problems.append(f"{hit.atlas_id}: shares finding {', '.join(sorted(shared))}")
        seen_articles |= {p.pmc_id} - {None}
        seen_texts.add(normalise(p.caption))
    return problems
