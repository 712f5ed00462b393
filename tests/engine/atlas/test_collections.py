"""`engine index --figures … / --rocov2 …`: generic figure collections and ROCOv2, under the licence,
language and duplicate-id policy (engine/atlas/sources.py), through the real command line."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.__main__ import main
from engine.atlas.sources import known_licence
from engine.config import get_settings
from tests.engine.atlas.fixtures import bomb_png, draw_image, jpeg_bytes

ENGLISH = "Axial CT of the chest showing a round nodule in the {} lobe of the right lung."
SPANISH = "Radiografía de tórax que muestra una consolidación en el lóbulo inferior derecho"



def write_collections(root: Path) -> tuple[Path, Path]:
    """PMC-OA-like JSONL (good rows and one of each bad kind) and a parquet with no licence column that
    repeats one of the JSONL's ids."""
    (root / "img").mkdir(parents=True)
    for i in range(4):
        (root / "img" / f"fig{i}.jpg").write_bytes(jpeg_bytes(draw_image(i)))
    good = [{"id": f"PMC1_fig{i}", "image": f"img/fig{i}.jpg", "caption": ENGLISH.format(["upper", "middle", "lower"][i]),
             "source": "PMC-OA", "licence": ["CC BY 4.0", "http://creativecommons.org/licenses/by-nc/4.0/", "CC0"][i]}
            for i in range(3)]
    bad = [
        {"id": "PMC1_empty", "image": "img/fig3.jpg", "caption": "  ", "source": "PMC-OA", "licence": "CC BY"},
        {"id": "PMC1_es", "image": "img/fig3.jpg", "caption": SPANISH, "source": "PMC-OA", "licence": "CC BY"},
        {"id": "PMC1_bomb", "image_b64": base64.b64encode(bomb_png()).decode(), "caption": ENGLISH.format("upper"),
         "source": "PMC-OA", "licence": "CC BY"},
        {"id": "PMC1_arr", "image": "img/fig3.jpg", "caption": ENGLISH.format("lower"), "source": "PMC-OA",
         "licence": "All rights reserved"},
        {"id": "PMC1_gone", "image": "img/nope.jpg", "caption": ENGLISH.format("upper"), "source": "PMC-OA",
         "licence": "CC BY"},
    ]
    jsonl = root / "pmcoa.jsonl"
    jsonl.write_text("\n".join([*(json.dumps(r) for r in good + bad), "{not json"]) + "\n")
    table = pa.table({"id": ["PMC1_fig0", "OTHER_1"], "caption": [ENGLISH.format("upper")] * 2,
                      "image": [jpeg_bytes(draw_image(7)), jpeg_bytes(draw_image(8))]})
    parquet = root / "other.parquet"
    pq.write_table(table, parquet)
    return jsonl, parquet


def test_known_licences() -> None:
    assert known_licence("cc-by 4.0") == "CC BY 4.0"
    assert known_licence("CC BY-NC-SA") == "CC BY-NC-SA"
    assert known_licence("https://creativecommons.org/licenses/by-nc-nd/3.0/") == "CC BY-NC-ND 3.0"
    assert known_licence("CC0 1.0") == "CC0 1.0" and known_licence("Public Domain") == "public domain"
    for unknown in (None, "", "All rights reserved", "unknown", "CC-BY-banana", "see article"):
        assert known_licence(unknown) is None, unknown


def test_two_collections_policy_report_and_resume(tmp_path: Path, settings_env: Path, capsys) -> None:
    jsonl, parquet = write_collections(tmp_path / "src")
    argv = ["index", "--figures", str(jsonl), "--figures", str(parquet), "--no-progress", "--batch-size", "4"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "added 3," in out and "atlas: 3 images" in out
    for counted in ("duplicate_id 1", "other_language 1", "empty_caption 1", "decompression_bomb 1",
                    "unknown_licence 2", "malformed_line 1", "missing_image 1"):
        assert counted in out, (counted, out)
    assert "no_licence_column 1" in out  # the parquet: said once, as a warning
    lines = [json.loads(x) for x in (settings_env / "index-report.jsonl").read_text().splitlines()]
    duplicate = next(x for x in lines if x["reason"] == "duplicate_id")
    assert str(jsonl) in duplicate["detail"] and str(parquet) in duplicate["detail"]
    assert {x["id"] for x in lines if x["reason"] == "unknown_licence"} == {"PMC1_arr", "OTHER_1"}

    assert main(argv) == 0  # resumable: nothing embedded again
    assert "added 0, already stored 3" in capsys.readouterr().out

    assert main([*argv, "--allow-unknown-licences"]) == 0  # the setting lets them in, still counted
    out = capsys.readouterr().out
    assert "added 2," in out and "atlas: 5 images" in out and "unknown_licence 2" in out.split("kept with")[1]

    from engine.store.factory import open_configured_store

    with open_configured_store(get_settings(), 1) as atlas:
        stored = {h.atlas_id: h.payload for h in atlas.retrieve(["PMC1_fig1", "PMC1_arr", "PMC1_fig0"])}
    assert stored["PMC1_fig1"].licence == "CC BY-NC 4.0"  # canonical spelling of the URL
    assert stored["PMC1_arr"].licence == "All rights reserved"  # kept as written, allowed by the flag
    assert stored["PMC1_fig0"].caption == ENGLISH.format("upper")  # the JSONL's, not the parquet's row


def write_rocov2(root: Path) -> None:
    """A ROCOv2 folder: train and valid captions, concepts (auto + manual), the CUI mapping, images."""
    for split, ids in (("train", [1, 2, 3]), ("valid", [4])):
        (root / split).mkdir(parents=True)
        rows = ["ID,Caption"]
        for i in ids:
            (root / split / f"ROCOv2_2023_{split}_{i:06d}.jpg").write_bytes(jpeg_bytes(draw_image(i)))
            rows.append(f'ROCOv2_2023_{split}_{i:06d},"{ENGLISH.format(i)}"')
        (root / f"{split}_captions.csv").write_text("\n".join(rows) + "\n")
    (root / "train_concepts.csv").write_text("ID,CUIs\nROCOv2_2023_train_000001,C0040405;C0024109\n")
    (root / "train_concepts_manual.csv").write_text("ID,CUIs\nROCOv2_2023_train_000001,C0040405\n"
                                                     "ROCOv2_2023_train_000002,C0034079\n")
    (root / "cui_mapping.csv").write_text("CUI,Canonical name\nC0040405,X-Ray Computed Tomography\nC0024109,Lung\n")


def test_rocov2_without_licences_is_refused_unless_allowed(tmp_path: Path, settings_env: Path, capsys) -> None:
    write_rocov2(tmp_path / "v2")
    argv = ["index", "--rocov2", str(tmp_path / "v2"), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "added 0," in out and "unknown_licence 4" in out and "no_licence_column 2" in out

    assert main([*argv, "--allow-unknown-licences", "--split", "train"]) == 0
    assert "added 3," in capsys.readouterr().out
    from engine.store.factory import open_configured_store

    with open_configured_store(get_settings(), 1) as atlas:
        hit = atlas.retrieve(["ROCOv2_2023_train_000001"])[0]
        assert [(c["cui"], c["name"]) for c in hit.payload.concepts] == [
            ("C0040405", "X-Ray Computed Tomography"), ("C0024109", "Lung")]
        assert hit.payload.split == "train" and atlas.count() == 3


@pytest.mark.parametrize(("argv", "message"), [
    (["--rocov2", "/no/such"], "ROCOv2 root '/no/such' is not a directory"),
    (["--figures", "/no/such.jsonl"], "figure collection '/no/such.jsonl' does not exist"),
    (["--figures", "x.csv"], "does not exist"),
])
def test_bad_collection_paths_fail_with_one_line(argv, message, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MIRAGE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert main(["index", *argv]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_folder_that_is_not_rocov2_is_named(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MIRAGE_DATA_DIR", str(tmp_path / "d"))
    get_settings.cache_clear()
    try:
        assert main(["index", "--rocov2", str(tmp_path)]) == 2
    finally:
        get_settings.cache_clear()
    assert "not a ROCOv2 folder" in capsys.readouterr().err
