"""A small generated atlas in ROCO's official file layout, so the engine runs with no download.

Each image shows one lesion (shape, brightness, position) drawn in the look of one modality
(x-ray, CT, MRI, ultrasound, angiography, PET); its caption says the same in words, so a CLIP
trained on these pairs can find an image from a caption. Deterministic for a given (n, seed).

Layout (as `roco-dataset`): root/data/{train,validation,test}/radiology/ with captions.txt
(`ROCO_00001<TAB> caption`), licences.txt (CSV with header `ROCO_ID,PMC_ID,CC`), keywords.txt,
semtypes.txt, cuis.txt, dlinks.txt (tab-separated, id first) and images/ROCO_00001.jpg, plus
data/cui_mapping.csv (ROCOv2's `CUI,Canonical name`) naming every CUI the atlas uses.

Like ROCO, figures come from articles with several of them: the images of one modality, brightness
and place (four shapes) are the panels of two articles (two panels each, one PMC id per article), so
siblings look alike (the tiny CLIP puts them among each other's nearest images) and their captions
differ in a word or two. Each caption has two CUIs, in ROCO's
own format: its modality (a procedure concept) and its finding (the noun: lesion, mass, nodule,
opacity), so captions with the same noun share a finding concept.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

log = logging.getLogger(__name__)

FORMAT_VERSION = 1  # of the captions and pixels (the tiny models are trained on them: their cache key)
META_VERSION = 3  # of the side files (articles, concepts): a change rebuilds the atlas, not the models
IMAGE_SIZE = 96
SPLITS = ("train", "validation", "test")
MARKER = "DEMO_ATLAS.json"

# modality key -> (phrase used in captions, keyword, UMLS-like CUI for the modality)
MODALITIES: dict[str, tuple[str, str, str]] = {
    "xray": ("Chest x-ray radiograph", "x-ray", "C0043299"),
    "ct": ("Axial CT scan", "computed tomography", "C0040405"),
    "mri": ("T2-weighted MRI", "magnetic resonance imaging", "C0024485"),
    "ultrasound": ("Ultrasound image", "ultrasonography", "C0041618"),
    "angiography": ("Digital subtraction angiography", "angiography", "C0002978"),
    "pet": ("PET scan", "positron emission tomography", "C0032743"),
}
SHAPES = {"circle": "round", "square": "square", "triangle": "triangular", "ring": "ring-shaped"}
BRIGHTNESS = ("bright", "dark")
POSITIONS: dict[str, tuple[float, float]] = {
    "upper left": (0.3, 0.3),
    "upper right": (0.7, 0.3),
    "lower left": (0.3, 0.7),
    "lower right": (0.7, 0.7),
    "center": (0.5, 0.5),
}
NOUNS = ("lesion", "mass", "nodule", "opacity")
# the finding concept of each noun (UMLS-like CUIs), and every CUI's name for cui_mapping.csv
FINDINGS: dict[str, str] = {"lesion": "C0221198", "mass": "C0577559", "nodule": "C0028259", "opacity": "C1265876"}
CUI_NAMES: dict[str, str] = {
    "C0043299": "Diagnostic radiologic examination", "C0040405": "X-Ray Computed Tomography",
    "C0024485": "Magnetic Resonance Imaging", "C0041618": "Ultrasonography", "C0002978": "Angiogram",
    "C0032743": "Positron-Emission Tomography", "C0221198": "Lesion", "C0577559": "Mass of body structure",
    "C0028259": "Nodule", "C1265876": "Opacity",
}
ARTICLE_SIZES = (2, 2)  # the four shapes of one look, as two articles


@dataclass(frozen=True)
class DemoItem:
    """One generated atlas entry."""

    roco_id: str
    split: str
    modality: str
    shape: str
    brightness: str
    position: str
    caption: str


def build_demo_atlas(root: Path, *, n: int = 240, seed: int = 0) -> Path:
    """Write `n` generated image–caption pairs under `root` in ROCO's layout; returns `root`.

    Idempotent: a complete atlas with the same (n, seed) is left alone. Race-safe: built in a
    temporary sibling directory and renamed into place.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    root = Path(root)
    wanted = {"version": FORMAT_VERSION, "meta": META_VERSION, "n": n, "seed": seed}
    if _marker(root) == wanted:
        return root
    if root.exists() and _marker(root) is None and any(root.iterdir()):
        raise FileExistsError(f"{root} exists and is not a demo atlas; choose another directory")

    log.info("building demo atlas: %d images in %s", n, root)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _write_atlas(tmp, demo_items(n, seed), seed)
        (tmp / MARKER).write_text(json.dumps(wanted))
        _swap_into_place(tmp, root, wanted)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def demo_items(n: int, seed: int) -> list[DemoItem]:
    """The atlas contents (no pixels): every modality × shape × brightness × position, shuffled."""
    combos = list(itertools.product(MODALITIES, SHAPES, BRIGHTNESS, POSITIONS))
    rng = random.Random(seed)
    rng.shuffle(combos)
    items = []
    for i in range(n):
        modality, shape, brightness, position = combos[i % len(combos)]
        noun = NOUNS[rng.randrange(len(NOUNS))]
        caption = (
            f"{MODALITIES[modality][0]} showing a {brightness} {SHAPES[shape]} {noun} "
            f"in the {position} of the image."
        )
        split = SPLITS[1] if i % 10 == 8 else SPLITS[2] if i % 10 == 9 else SPLITS[0]
        items.append(DemoItem(f"ROCO_{i + 1:05d}", split, modality, shape, brightness, position, caption))
    return items


def demo_articles(items: list[DemoItem]) -> dict[str, str]:
    """roco id → PMC id: the items of one modality, brightness and place, in shape order, cut into
    articles of ARTICLE_SIZES panels."""
    looks: dict[tuple[str, str, str], list[DemoItem]] = {}
    for it in items:
        looks.setdefault((it.modality, it.brightness, it.position), []).append(it)
    pmc: dict[str, str] = {}
    article = 0
    shapes = list(SHAPES)
    for look in looks.values():
        look.sort(key=lambda it: (shapes.index(it.shape), it.roco_id))
        start = 0
        while start < len(look):
            size = ARTICLE_SIZES[article % len(ARTICLE_SIZES)]
            article += 1
            for it in look[start : start + size]:
                pmc[it.roco_id] = f"PMC{9000000 + article}"
            start += size
    return pmc


def finding_of(item: DemoItem) -> str:
    """The CUI of the item's finding (the noun its caption uses)."""
    noun = next(n for n in NOUNS if f" {n} in the " in item.caption)
    return FINDINGS[noun]


def demo_pairs(root: Path) -> list[tuple[str, str, Path]]:
    """(roco_id, caption, image path) for every split of a demo atlas (or any ROCO-layout root)."""
    pairs = []
    for split in SPLITS:
        folder = Path(root) / "data" / split / "radiology"
        captions = folder / "captions.txt"
        if not captions.exists():
            continue
        for line in captions.read_text(encoding="utf-8").splitlines():
            roco_id, _, caption = line.partition("\t")
            if roco_id:
                pairs.append((roco_id.strip(), caption.strip(), folder / "images" / f"{roco_id.strip()}.jpg"))
    return pairs


def render(item: DemoItem, seed: int) -> Image.Image:
    """The image for one item: the modality's background look with the lesion drawn on it."""
    rng = np.random.default_rng([seed, int(item.roco_id.removeprefix("ROCO_"))])
    s = IMAGE_SIZE
    yy, xx = np.mgrid[0:s, 0:s] / (s - 1)
    gray = _background(item.modality, rng, xx, yy)
    lesion = _lesion_mask(item, rng)
    value = 0.95 if item.brightness == "bright" else 0.05
    gray = np.where(lesion > 0, value, gray)
    gray = np.clip(gray + rng.normal(0, 0.02, gray.shape), 0, 1)
    if item.modality == "pet":  # hot colour map: PET is the one colour modality
        rgb = np.stack(
            [np.clip(gray * 2, 0, 1), np.clip(gray * 2 - 0.6, 0, 1), np.clip(gray * 3 - 2, 0, 1)], -1
        )
    else:
        rgb = np.repeat(gray[..., None], 3, axis=-1)
    return Image.fromarray((rgb * 255).astype(np.uint8), "RGB").filter(ImageFilter.GaussianBlur(0.6))


def _background(modality: str, rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    r = np.hypot(xx - 0.5, yy - 0.5)
    if modality == "xray":  # dark field, lighter ribcage-like stripes
        return 0.25 + 0.15 * (np.sin(yy * 30) > 0.6) + 0.1 * (1 - r)
    if modality == "ct":  # grey body disc on black
        return np.where(r < 0.47, 0.45, 0.0)
    if modality == "mri":  # smooth mid-grey with soft blobs
        return 0.5 + 0.12 * np.sin(xx * 7 + rng.uniform(0, 6)) * np.cos(yy * 5)
    if modality == "ultrasound":  # speckled fan on black
        angle = np.arctan2(xx - 0.5, yy + 0.1)
        fan = (np.abs(angle) < 0.55) & (r < 0.75)
        return np.where(fan, 0.35 + rng.uniform(-0.2, 0.2, xx.shape), 0.0)
    if modality == "angiography":  # light field with dark vessel lines
        vessels = np.abs(np.sin(xx * 9 + np.sin(yy * 6) * 2)) < 0.12
        return np.where(vessels, 0.3, 0.8)
    return 0.1 + 0.1 * (1 - r)  # pet: dim body, hot lesion


def _lesion_mask(item: DemoItem, rng: np.random.Generator) -> np.ndarray:
    s = IMAGE_SIZE
    cx, cy = POSITIONS[item.position]
    cx, cy = (cx + rng.uniform(-0.04, 0.04)) * s, (cy + rng.uniform(-0.04, 0.04)) * s
    half = rng.uniform(0.12, 0.16) * s
    mask = Image.new("L", (s, s), 0)
    draw = ImageDraw.Draw(mask)
    box = (cx - half, cy - half, cx + half, cy + half)
    if item.shape == "circle":
        draw.ellipse(box, fill=255)
    elif item.shape == "square":
        draw.rectangle(box, fill=255)
    elif item.shape == "triangle":
        draw.polygon([(cx, cy - half), (cx - half, cy + half), (cx + half, cy + half)], fill=255)
    else:
        draw.ellipse(box, outline=255, width=max(2, int(half / 3)))
    return np.asarray(mask)


def _write_atlas(tmp: Path, items: list[DemoItem], seed: int) -> None:
    articles = demo_articles(items)
    (tmp / "data").mkdir(parents=True)
    _write_lines(tmp / "data" / "cui_mapping.csv",
                 ["CUI,Canonical name", *(f"{cui},{name}" for cui, name in sorted(CUI_NAMES.items()))])
    for split in SPLITS:
        folder = tmp / "data" / split / "radiology"
        (folder / "images").mkdir(parents=True)
        rows = [it for it in items if it.split == split]
        for it in rows:
            render(it, seed).save(folder / "images" / f"{it.roco_id}.jpg", quality=92)
        pmc = {it.roco_id: articles[it.roco_id] for it in rows}
        _write_lines(folder / "captions.txt", [f"{it.roco_id}\t {it.caption}" for it in rows])
        _write_lines(
            folder / "licences.txt",
            ["ROCO_ID,PMC_ID,CC", *(f"{it.roco_id},{pmc[it.roco_id]},CC BY" for it in rows)],
        )
        _write_lines(folder / "keywords.txt", [f"{it.roco_id}\t" + "\t".join(_keywords(it)) for it in rows])
        _write_lines(folder / "semtypes.txt",
                     [f"{it.roco_id}\t\tT060\tDiagnostic Procedure\tT033\tFinding" for it in rows])
        _write_lines(folder / "cuis.txt",
                     [f"{it.roco_id}\t\t{MODALITIES[it.modality][2]}\t{finding_of(it)}" for it in rows])
        _write_lines(
            folder / "dlinks.txt",
            [
                f"{it.roco_id}\t https://www.ncbi.nlm.nih.gov/pmc/articles/{pmc[it.roco_id]}/\t {it.roco_id}.jpg"
                for it in rows
            ],
        )


def _keywords(item: DemoItem) -> list[str]:
    return [MODALITIES[item.modality][1], f"{item.brightness} lesion", SHAPES[item.shape], item.position]


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def _marker(root: Path) -> dict | None:
    try:
        return json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None


def _swap_into_place(tmp: Path, root: Path, wanted: dict) -> None:
    """Rename tmp → root; a concurrent builder that got there first wins, an outdated atlas is replaced."""
    root.parent.mkdir(parents=True, exist_ok=True)
    if root.exists():
        if _marker(root) == wanted:
            return  # another process finished first
        old = root.parent / f".{root.name}.old-{uuid.uuid4().hex[:8]}"
        root.rename(old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        tmp.rename(root)
    except OSError:
        if _marker(root) != wanted:
            raise
