"""The generated demo atlas: ROCO's official layout, deterministic, idempotent, captions in words."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from engine.tiny.demo_atlas import SPLITS, build_demo_atlas, demo_pairs

MODALITY_WORDS = ("x-ray", "ct", "mri", "ultrasound", "angiography", "pet")
ROCO_FILES = ("captions.txt", "licences.txt", "keywords.txt", "semtypes.txt", "cuis.txt", "dlinks.txt")


def test_the_atlas_has_rocos_layout_with_every_image_captioned(demo_atlas_dir):
    pairs = demo_pairs(demo_atlas_dir)
    assert len(pairs) == 240
    for split in SPLITS:
        folder = demo_atlas_dir / "data" / split / "radiology"
        for name in ROCO_FILES:
            assert (folder / name).is_file(), f"{split}/{name}"
        ids = [line.split("\t")[0] for line in (folder / "captions.txt").read_text().splitlines()]
        assert ids and all(roco_id.startswith("ROCO_") for roco_id in ids)
        assert sorted(p.stem for p in (folder / "images").glob("*.jpg")) == sorted(ids)
        with open(folder / "licences.txt", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [row["ROCO_ID"] for row in rows] == ids
        assert all(row["PMC_ID"].startswith("PMC") and row["CC"] for row in rows)
    for roco_id, _caption, path in pairs:
        assert path.name == f"{roco_id}.jpg" and path.exists()


def test_captions_use_roco_spacing_and_name_a_modality(demo_atlas_dir):
    line = (demo_atlas_dir / "data" / "train" / "radiology" / "captions.txt").read_text().splitlines()[0]
    assert "\t " in line  # ROCO writes "ROCO_00020<TAB> caption"
    captions = [caption.lower() for _, caption, _ in demo_pairs(demo_atlas_dir)]
    assert all(
        any(word in caption.split() or word in caption for word in MODALITY_WORDS) for caption in captions
    )
    for word in MODALITY_WORDS:
        assert any(word in caption for caption in captions), word


def test_the_same_seed_builds_identical_files_and_a_rebuild_is_skipped(tmp_path):
    first = build_demo_atlas(tmp_path / "a", n=12, seed=3)
    second = build_demo_atlas(tmp_path / "b", n=12, seed=3)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)

    image = first / "data" / "train" / "radiology" / "images" / "ROCO_00001.jpg"
    stamp = image.stat().st_mtime_ns
    build_demo_atlas(first, n=12, seed=3)
    assert image.stat().st_mtime_ns == stamp


def test_a_different_seed_changes_the_atlas(tmp_path):
    a = demo_pairs(build_demo_atlas(tmp_path / "a", n=12, seed=0))
    b = demo_pairs(build_demo_atlas(tmp_path / "b", n=12, seed=1))
    assert [c for _, c, _ in a] != [c for _, c, _ in b]


def test_a_foreign_directory_is_not_overwritten(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a demo atlas"):
        build_demo_atlas(tmp_path, n=4)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_n_below_one_is_refused():
    with pytest.raises(ValueError, match="n must be at least 1"):
        build_demo_atlas(Path("/nonexistent"), n=0)


def test_the_atlas_has_sibling_panels_and_concepts_with_names(demo_atlas_dir):
    from engine.atlas.items import AtlasItem
    from engine.atlas.roco import read_roco_layout
    from engine.tiny.demo_atlas import FINDINGS

    items = [i for i in read_roco_layout(demo_atlas_dir) if isinstance(i, AtlasItem)]
    assert len(items) == 240
    per_article: dict[str, list[AtlasItem]] = {}
    for item in items:
        per_article.setdefault(item.pmc_id, []).append(item)
    assert sorted({len(v) for v in per_article.values()}) == [2]  # every figure has a sibling panel
    for siblings in per_article.values():
        a, b = siblings
        assert (a.keywords[0], a.keywords[1], a.keywords[3]) == (b.keywords[0], b.keywords[1], b.keywords[3])
    for item in items:
        assert len(item.concepts) == 2 and all(c.name for c in item.concepts)
        noun = next(n for n, cui in FINDINGS.items() if cui == item.concepts[1].cui)
        assert f" {noun} in the " in item.caption
        assert item.semantic_types == (("T060", "Diagnostic Procedure"), ("T033", "Finding"))
