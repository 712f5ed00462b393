"""UMLS concepts from ROCO's files (the real layout: 0–20 CUIs a row, some none), ROCOv2's concept files,
parquet columns; into the payload at index time, or into an existing atlas without re-embedding."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.__main__ import main
from engine.atlas.concepts import find_concepts
from engine.atlas.items import AtlasItem, Concept, SourceProblem
from engine.atlas.parquet import read_parquet
from engine.atlas.roco import read_roco_layout
from engine.config import get_settings

CAPTIONS = {
    "ROCO_00001": "Axial MRI (coronal view).",
    "ROCO_00006": "Coronal CT image showing a left pneumothorax and a mass in the liver.",
    "ROCO_00016": "Chest x-ray with a right pneumothorax.",
}


def write_tree(root: Path) -> Path:
    """A ROCO test split with the real files' shapes: a row without CUIs, a bad value, names in a mapping."""
    folder = root / "data" / "test" / "radiology"
    (folder / "images").mkdir(parents=True)
    for i, atlas_id in enumerate(CAPTIONS):
        Image.new("RGB", (40, 40), (i * 60, 90, 120)).save(folder / "images" / f"{atlas_id}.jpg")
    (folder / "captions.txt").write_text("".join(f"{k}\t {v}\n" for k, v in CAPTIONS.items()))
    (folder / "cuis.txt").write_text(
        "ROCO_00001\t\n"
        "ROCO_00006\t\tC0040405\tC0032326\tC0577559\n"
        "ROCO_00016\t\tC0032326\tnot-a-cui\tC0817096\n")
    (folder / "semtypes.txt").write_text(
        "ROCO_00001\t\n"
        "ROCO_00006\t\tT060\tDiagnostic Procedure\tT047\tDisease or Syndrome\n"
        "ROCO_00016\t\tT047\tDisease or Syndrome\n")
    (root / "data" / "cui_mapping.csv").write_text("CUI,Canonical name\nC0032326,Pneumothorax\n")
    return root


def test_the_official_files_give_each_image_its_cuis_types_and_known_names(tmp_path):
    read = list(read_roco_layout(write_tree(tmp_path)))
    items = {i.atlas_id: i for i in read if isinstance(i, AtlasItem)}
    assert items["ROCO_00001"].concepts == () and items["ROCO_00001"].semantic_types == ()
    assert items["ROCO_00006"].concepts == (Concept("C0040405"), Concept("C0032326", "Pneumothorax"),
                                            Concept("C0577559"))
    assert items["ROCO_00006"].semantic_types == (("T060", "Diagnostic Procedure"), ("T047", "Disease or Syndrome"))
    assert items["ROCO_00006"].semtypes == ("Diagnostic Procedure", "Disease or Syndrome")
    assert [c.cui for c in items["ROCO_00016"].concepts] == ["C0032326", "C0817096"]
    problems = [p for p in read if isinstance(p, SourceProblem)]
    assert [(p.reason, p.fatal) for p in problems] == [("malformed_concept", False)]
    assert "not-a-cui" in problems[0].detail and problems[0].where.startswith("test/radiology/cuis.txt:3")


def test_rocov2_concept_files_and_a_mapping_with_semantic_types(tmp_path):
    (tmp_path / "test_concepts.csv").write_text("ID,CUIs\nROCOv2_2023_test_000001,C0040405;C0032326\n"
                                                "ROCOv2_2023_test_000002,\n")
    (tmp_path / "test_concepts_manual.csv").write_text("ID,CUIs\nROCOv2_2023_test_000001,C0817096\n")
    (tmp_path / "cui_mapping.csv").write_text("CUI,Canonical name,TUI\nC0032326,Pneumothorax,T047\n"
                                              "C0040405,X-Ray Computed Tomography,T060\n")
    table = find_concepts(tmp_path, [])
    first = table.concepts_of("ROCOv2_2023_test_000001")
    assert {c.cui for c in first} == {"C0040405", "C0032326", "C0817096"}
    assert Concept("C0032326", "Pneumothorax", "T047") in first
    assert table.concepts_of("ROCOv2_2023_test_000002") == ()


def test_parquet_columns_carry_cuis_types_and_names(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(buffer, format="JPEG")
    table = pa.table({
        "image": [{"bytes": buffer.getvalue(), "path": "a.jpg"}] * 2,
        "image_id": ["PQ_1", "PQ_2"],
        "caption": ["Chest x-ray with a right pneumothorax.", "Axial CT of the head."],
        "cuis": [["C0032326", "C0817096"], []],
        "concept_names": [["Pneumothorax", "Chest"], []],
        "semtypes": ["T047 Disease or Syndrome;T029", None],
    })
    pq.write_table(table, tmp_path / "test-00000-of-00001.parquet")
    items = [i for i in read_parquet(tmp_path) if isinstance(i, AtlasItem)]
    assert items[0].concepts == (Concept("C0032326", "Pneumothorax"), Concept("C0817096", "Chest"))
    assert items[0].semantic_types == (("T047", "Disease or Syndrome"), ("T029", None))
    assert items[1].concepts == () and items[1].semantic_types == ()



def stored(data_dir: Path) -> dict:
    from engine.store.edge import EdgeStore

    with EdgeStore.open(data_dir / "atlas") as store:
        return {r.payload.atlas_id: r for batch in store.scroll(with_images=True) for r in batch}


@pytest.mark.slow
def test_index_stores_concepts_and_counts_them_and_concepts_only_backfills_without_embedding(
        tmp_path, settings_env, capsys, monkeypatch):
    root = write_tree(tmp_path / "roco")
    assert main(["index", "--roco", str(root), "--no-progress", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "concepts: CUIs for 2 of 3 added images (67%), semantic types 2, named CUIs 2" in out
    before = stored(settings_env)
    assert before["ROCO_00006"].payload.cuis == ["C0040405", "C0032326", "C0577559"]
    assert before["ROCO_00001"].payload.concepts == []  # a point without concepts

    # an atlas indexed before concepts: wipe them, then backfill from the files alone (no CLIP: a wrong
    # model id would fail if it were loaded)
    from engine.store.backfill import backfill_concepts
    from engine.store.edge import EdgeStore

    with EdgeStore.open(settings_env / "atlas") as store:
        wiped = backfill_concepts(store, lambda _id: ([], []))
    assert wiped.updated == 2
    (root / "data" / "test" / "radiology" / "cuis.txt").write_text(
        "ROCO_00001\t\tC0024485\nROCO_00006\t\tC0040405\tC0032326\tC0577559\n"
        "ROCO_00016\t\tC0032326\tC0817096\n")
    settings_env.parent.joinpath("nothing").mkdir()
    argv = ["index", "--concepts-only", "--roco", str(root)]
    monkeypatch.setenv("MIRAGE_CLIP_MODEL", str(settings_env.parent / "nothing"))
    get_settings.cache_clear()
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == (
        "concepts: 3 points updated, 0 already up to date, 0 not named by the concept files; "
        "3 of 3 points (100%) now carry CUIs")
    after = stored(settings_env)
    assert after["ROCO_00001"].payload.cuis == ["C0024485"]
    assert after["ROCO_00006"].payload.concepts[1] == {"cui": "C0032326", "name": "Pneumothorax", "semtype": None}
    for atlas_id, record in before.items():
        assert np.array_equal(after[atlas_id].vector, record.vector)
        assert after[atlas_id].payload.image_jpeg_b64 == record.payload.image_jpeg_b64
    assert main(argv) == 0 and "0 points updated, 3 already up to date" in capsys.readouterr().out


def test_concepts_only_without_an_atlas_or_concept_files_is_one_clear_line(tmp_path, settings_env, capsys):
    root = write_tree(tmp_path / "roco")
    assert main(["index", "--concepts-only", "--roco", str(root)]) == 2
    assert capsys.readouterr().err.strip() == f"index: error: no atlas at {settings_env / 'atlas'}: run `engine index` first"
    (tmp_path / "empty").mkdir()
    assert main(["index", "--concepts-only", "--roco", str(tmp_path / "empty")]) == 2
    assert "no concept files" in capsys.readouterr().err
