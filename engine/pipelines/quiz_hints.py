"""The quiz's hint ladder: hints that help without telling (docs/ARCHITECTURE.md §7).

    rung 1  what the image shows: the modality (caption questions only), the body region and the plane or
            view where the caption names them ("The image shows — modality: CT · region: chest · plane: axial")
    rung 2  one wrong choice struck out ("Not B.")
    rung 3  a second wrong choice struck out, when at least two choices stay (so never with 3 choices)

No rung names or begins the right choice: a part of rung 1 that would contain the right choice's text
or its first ANSWER_PREFIX_WORDS words, or (modality questions) name any modality, is left out. Points
per hints taken follow the contract's quiz_points (QUIZ_POINTS_BY_HINTS; every rung taken: its last entry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from engine.atlas.modality import derive_modality
from engine.contract import quiz_points
from engine.store.base import StoredHit

from .quiz_fair import normalise

LETTERS = "ABCDE"
ANSWER_PREFIX_WORDS = 3
MAX_STRIKES = 2
MODALITY_NAMES = {"x-ray": "X-ray", "ct": "CT", "mri": "MRI", "ultrasound": "Ultrasound",
                  "angiography": "Angiography", "nuclear": "Nuclear medicine"}
REGIONS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(pattern, re.IGNORECASE)) for name, pattern in (
    ("head and brain", r"\b(?:brain|head|skull|cerebr\w*|intracranial|cranial)\b"),
    ("face and sinuses", r"\b(?:sinus\w*|orbit\w*|mandib\w*|maxill\w*|dental|teeth|tooth)\b"),
    ("neck", r"\b(?:neck|thyroid|cervical|larynx|pharyn\w*)\b"),
    ("spine", r"\b(?:spine|spinal|vertebr\w*|lumbar|thoracic spine|disc)\b"),
    ("chest", r"\b(?:chest|thora\w*|lungs?|pulmonary|pleura\w*|mediastin\w*|heart|cardiac)\b"),
    ("breast", r"\b(?:breast|mammar\w*)\b"),
    ("abdomen", r"\b(?:abdom\w*|liver|hepat\w*|spleen|pancrea\w*|kidneys?|renal|bowel|colon|stomach|gall\w*)\b"),
    ("pelvis", r"\b(?:pelvi\w*|bladder|uter\w*|ovar\w*|prostat\w*)\b"),
    ("upper limb", r"\b(?:shoulder|humer\w*|elbow|forearm|radius|ulna|wrist|hand|fingers?)\b"),
    ("lower limb", r"\b(?:hip|femur|femoral|knee|tibia\w*|fibula\w*|ankle|foot|toes?)\b"),
))
PLANES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("axial", re.compile(r"\b(?:axial|transverse)\b", re.IGNORECASE)),
    ("coronal", re.compile(r"\bcoronal\b", re.IGNORECASE)),
    ("sagittal", re.compile(r"\bsagittal\b", re.IGNORECASE)),
    ("oblique", re.compile(r"\boblique\b", re.IGNORECASE)),
    ("posteroanterior (PA)", re.compile(r"\b(?:PA\b|postero-?anterior)", re.IGNORECASE)),
    ("anteroposterior (AP)", re.compile(r"\b(?:AP\b|antero-?posterior)", re.IGNORECASE)),
    ("lateral", re.compile(r"\blateral (?:view|projection|radiograph)", re.IGNORECASE)),
)


@dataclass(frozen=True)
class Hint:
    """One rung: its text, its kind (shows / strike) and the index of the choice a strike removes."""

    text: str
    kind: str
    strike: int | None = None


def hint_ladder(item: StoredHit, kind: str, choice_texts: list[str], answer: int, seed: int) -> list[Hint]:
    """The ladder for a question whose choices (full texts, shuffled) are `choice_texts`."""
    caption = " ".join(item.payload.caption.split())
    right = choice_texts[answer]
    parts = []
    if kind == "caption":
        parts.append(f"modality: {MODALITY_NAMES.get(item.payload.modality, 'other than the common ones')}")
    region = next((name for name, pattern in REGIONS if pattern.search(caption)), None)
    if region:
        parts.append(f"region: {region}")
    plane = [name for name, pattern in PLANES if pattern.search(caption)]
    if plane:
        parts.append(f"{'plane' if plane[0] in ('axial', 'coronal', 'sagittal', 'oblique') else 'view'}: {plane[0]}")
    parts = [p for p in parts if not gives_away(p, right, modality_question=kind == "modality")]
    shows = ("The image shows — " + " · ".join(parts)) if parts else "The caption names no body region or plane."
    rungs = [Hint(shows, "shows")]
    wrong = [i for i in range(len(choice_texts)) if i != answer]
    order = np.random.default_rng([seed, 3]).permutation(len(wrong))
    for i in order[: min(MAX_STRIKES, len(choice_texts) - 2)]:
        rungs.append(Hint(f"Not {LETTERS[wrong[i]]}.", "strike", wrong[i]))
    return rungs


def gives_away(text: str, right: str, *, modality_question: bool) -> bool:
    """Whether `text` contains the right choice, its first words, or (modality questions) any modality."""
    said, answer = f" {normalise(text)} ", normalise(right)
    prefix = " ".join(answer.split()[:ANSWER_PREFIX_WORDS])
    if f" {answer} " in said or (prefix and f" {prefix} " in said):
        return True
    if modality_question:
        names = [normalise(n) for n in MODALITY_NAMES.values()]
        return derive_modality(text) != "other" or any(f" {n} " in said for n in names)
    return False


def points_by_hints(rungs: int) -> list[int]:
    """Points for a right answer after 0 … `rungs` hints: the contract's quiz_points for this ladder."""
    return [quiz_points(True, n, rungs) for n in range(rungs + 1)]
