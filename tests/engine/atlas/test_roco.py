"""The official-layout reader: fields, selection by split/subset, and bad lines turned into problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.atlas.items import AtlasItem, AtlasSourceError, SourceProblem
from engine.atlas.roco import read_roco_layout
from tests.engine.atlas.fixtures import GOOD_TRAIN, GOOD_VALIDATION, NON_RADIOLOGY


def items_of(source) -> list[AtlasItem]:
    return [i for i in source if isinstance(i, AtlasItem)]


def test_reader_fills_every_field_from_the_side_files(roco_tree):
    root, _ = roco_tree
    first = items_of(read_roco_layout(root, splits=["train"]))[0]
    assert first.atlas_id == "ROCO_00001"
    assert first.caption == GOOD_TRAIN[0][1]  # the space after the tab is not part of the caption
    assert first.pmc_id == "PMC4000000"  # PMC_ID also carries the figure file name; only the id is kept
    assert first.licence == "CC BY-NC"
    assert first.keywords == ("chest", "radiograph")
    assert first.semtypes == ("Diagnostic Procedure",)
    assert first.split == "train" and first.subset == "radiology"
    assert first.image_path == root / "data" / "train" / "radiology" / "images" / "ROCO_00001.jpg"


def test_bad_lines_become_problems_and_reading_goes_on(roco_tree):
    root, _ = roco_tree
    problems = [i for i in read_roco_layout(root, splits=["train"]) if isinstance(i, SourceProblem)]
    assert {(p.where, p.reason, p.fatal) for p in problems} == {
        ("train/radiology/licences.txt:14", "malformed_line", False),  # the item just lacks a licence
        ("train/radiology/captions.txt:17", "malformed_line", True),
    }


def test_default_reads_every_split_of_the_radiology_subset(roco_tree):
    root, _ = roco_tree
    source = read_roco_layout(root)
    ids = [i.atlas_id for i in items_of(source)]
    assert set(ids) >= {g[0] for g in GOOD_TRAIN + GOOD_VALIDATION}
    assert not set(ids) & {g[0] for g in NON_RADIOLOGY}
    assert len(source) == 19 + 3  # caption lines, blank ones not counted (the progress bar's total)


@pytest.mark.parametrize(
    ("splits", "subsets", "expected"),
    [
        (["validation"], ("radiology",), {g[0] for g in GOOD_VALIDATION}),
        (["val"], ("radiology",), {g[0] for g in GOOD_VALIDATION}),
        (None, ("non-radiology",), {g[0] for g in NON_RADIOLOGY}),
    ],
)
def test_selection_by_split_and_subset(roco_tree, splits, subsets, expected):
    root, _ = roco_tree
    assert {i.atlas_id for i in items_of(read_roco_layout(root, splits=splits, subsets=subsets))} == expected


def test_root_may_be_the_data_folder_itself(roco_tree):
    root, _ = roco_tree
    assert len(items_of(read_roco_layout(root / "data", splits=["validation"]))) == len(GOOD_VALIDATION)


def test_unknown_split_error_names_the_splits_there(roco_tree):
    root, _ = roco_tree
    with pytest.raises(AtlasSourceError, match=r"\['tes'\] not found .*found: \['train', 'validation'\]"):
        read_roco_layout(root, splits=["tes"])


def test_unknown_subset_and_missing_root_are_clear_errors(roco_tree, tmp_path: Path):
    root, _ = roco_tree
    with pytest.raises(AtlasSourceError, match="subset 'radiologie' is not one of"):
        read_roco_layout(root, subsets=["radiologie"])
    with pytest.raises(AtlasSourceError, match="is not a directory"):
        read_roco_layout(tmp_path / "nowhere")
    (tmp_path / "data" / "train" / "radiology").mkdir(parents=True)
    with pytest.raises(AtlasSourceError, match="has no captions.txt"):
        read_roco_layout(tmp_path)
