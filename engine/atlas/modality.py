"""The imaging modality of an atlas image, derived from its caption and keywords.

Precedence (what decides when several modalities are named):
1. Strong terms in the caption; the one named FIRST wins, because captions name the image's own
   modality up front ("CT scan ... confirmed on MRI" is a CT). At the same position the longer term
   wins, so compounds count as one: "CT angiography", "CTA", "MR angiogram" → angiography,
   "PET/CT", "SPECT" (single photon emission computed tomography) → nuclear.
2. Strong terms in the keywords (ROCO's keywords.txt), first named wins.
3. Weak terms (ambiguous on their own) in the caption, then in the keywords: "T1"/"T2" (also
   vertebrae), "MR" (also mitral regurgitation), "US", "echo", "periapical", "radiolucent".
4. Otherwise "other".
Matching is on word boundaries ("act" is not CT, "OCT" is not CT, "T10" is not T1); abbreviations
that are ordinary words in lower case (PET, US, MR) match only in capitals.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from engine.contract import MODALITIES  # noqa: F401  (re-exported: the one list, from the contract)

_I = re.IGNORECASE

# (modality, pattern) — strong terms: each alone says which modality the image is.
_STRONG: list[tuple[str, re.Pattern[str]]] = [
    ("angiography", re.compile(
        r"\b(?:CT|MR|computed\s+tomograph\w*|computeri[sz]ed\s+tomograph\w*|magnetic\s+resonance|"
        r"fluorescein|catheter|coronary|cerebral|digital\s+subtraction|OCT)[\s-]*angiogra\w*"
        r"|\b(?:CTA|MRA|DSA|CTPA)\b|\bangio[\s-]?(?:CT|MRI?)\b"
        r"|\b\w*angiogra\w*|\b(?:arterio|veno|phlebo|aorto)gra\w*|\bdigital\s+subtraction\b", _I)),
    ("nuclear", re.compile(
        r"(?-i:\bPET(?:[\s/-]*(?:CT|MRI?))?\b|\bCT[/-]PET\b)|\bSPECT(?:[\s/-]*CT)?\b"
        r"|\bpositron\s+emission|\bemission\s+(?:computed\s+)?tomograph\w*"
        r"|\w*scintigra\w*|\bscintiscan\w*|\bbone\s+scan|\bradionuclide|\bradioisotope|\bradiotracer"
        r"|\bnuclear\s+medicine|\b(?:18F-)?FDG\b|\b(?:99m\s*Tc|Tc[\s-]?99m)|\btechnetium|\bMIBG\b"
        r"|\bsestamibi|\bthallium|\bgamma\s+camera|\boctreoscan|\bDMSA\b|\bMAG3\b|\bPSMA\b", _I)),
    ("ultrasound", re.compile(
        r"\bultraso\w*|\w*sonogra\w*|\becho(?:cardio)?gra\w*|\b(?:trans\w+\s+)?echocardio\w*|\bdoppler"
        r"|\bduplex\s+(?:scan|ultraso)\w*|\bUSG\b|\bEUS\b|\bTTE\b|\bTEE\b|\bTVUS\b|\bUBM\b"
        r"|\b(?:hypo|hyper|an|iso)echoic\b|\bechogenic\w*|\bechotexture", _I)),
    ("mri", re.compile(
        r"\bmagnetic\s+resonance|\bf?MRIs?\b|\bMR\s+(?:imag\w*|scan\w*|sequence\w*|spectroscop\w*|images?)"
        r"|\bMRCP\b|\bFLAIR\b|(?-i:\bSTIR\b)|\bDWI\b|\bDTI\b|\bSWI\b|\bSSFP\b|\bdiffusion[\s-]+(?:weighted|tensor)"
        r"|\bapparent\s+diffusion\s+coefficient|\bADC\s+map|\btractograph\w*|\bT[12][\s-]*weighted"
        r"|\bT[12](?:W|WI|FS|FatSat|\*)\w*|\b(?:spin|gradient)[\s-]+echo\b|\bgadolinium", _I)),
    ("ct", re.compile(
        r"\b(?:HR|MD|CE|NC|CB|MS)?CTs?\b|\bCT[\s-]*scan\w*|\bctscan\w*"
        r"|\bcomput\w*\s+(?:axial\s+)?tomograph\w*|\btomodensitometr\w*", _I)),
    ("x-ray", re.compile(
        r"\bx[\s-]?rays?\b|\bxrays?\b|\b\w*radiograph\w*|\broentgen\w*|\b(?:plain|chest)\s+film"
        r"|\bfluoroscop\w*|\bmammogra\w*|\borthopantomogra\w*|\bOPG\b|\bCXR\b|\bKUB\b"
        r"|\bbarium\s+(?:swallow|meal|enema|study)|\b(?:urethro|cysto|hysterosalpingo|myelo|pyelo)gra\w*", _I)),
]

# Weak terms: used only when no strong term is found anywhere.
_WEAK: list[tuple[str, re.Pattern[str]]] = [
    ("mri", re.compile(r"\bT[12]\b|\bMR\b")),
    ("ultrasound", re.compile(r"\bUS\b|(?i:\becho\b)")),
    ("x-ray", re.compile(r"\bperiapical\b|\bradiolucen\w*|\bradiopaque\b|\bpanoramic\b", _I)),
]


def derive_modality(caption: str, keywords: Sequence[str] = ()) -> str:
    """One of MODALITIES for an image, from its caption first and its keywords second (see module doc)."""
    keyword_text = " ; ".join(keywords)
    for patterns in (_STRONG, _WEAK):
        for text in (caption, keyword_text):
            found = _first_named(text, patterns)
            if found:
                return found
    return "other"


def _first_named(text: str, patterns: list[tuple[str, re.Pattern[str]]]) -> str | None:
    """The modality whose term starts first in `text` (longest term on a tie), or None."""
    best: tuple[int, int, str] | None = None
    for modality, pattern in patterns:
        match = pattern.search(text)
        if match and (best is None or (match.start(), -len(match.group(0))) < best[:2]):
            best = (match.start(), -len(match.group(0)), modality)
    return best[2] if best else None
