"""`engine index --roco DIR --figures PATH …`: several collections in one run, through the real command
line into a real atlas (issue 21 item 1). ROCO keeps its own rules (never screened for licence or
language, `--licences` joined into its images only); figure collections are screened; an id in two
of them is refused naming both; on a server the one run builds one version holding them all."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from engine.__main__ import main
from engine.config import get_settings
from tests.engine.atlas.fixtures import draw_image, jpeg_bytes
from tests.engine.atlas.test_collections import ENGLISH, SPANISH

# ROCO_00003 has no licence line, and a caption the figure collections' language rule would skip
ROCO_ROWS = [("ROCO_00001", "Chest radiograph showing a right lower lobe opacity."),
             ("ROCO_00002", "Lateral X-ray of the skull with an osteolytic lesion."),
             ("ROCO_00003", "CT thorax: nodulo pulmonar derecho")]
ROCO_IDS = [atlas_id for atlas_id, _ in ROCO_ROWS]
FIGURE_IDS = ["PMC1_fig0", "PMC1_fig1"]


def write_roco(root: Path) -> Path:
    """A ROCO tree (train/radiology) of ROCO_ROWS, licensed "CC BY-NC" except ROCO_00003."""
    folder = root / "data" / "train" / "radiology"
    (folder / "images").mkdir(parents=True)
    for n, (atlas_id, _) in enumerate(ROCO_ROWS):
        draw_image(n).save(folder / "images" / f"{atlas_id}.jpg", quality=90)
    (folder / "captions.txt").write_text("".join(f"{i}\t {c}\n" for i, c in ROCO_ROWS), encoding="utf-8")
    (folder / "licences.txt").write_text("ROCO_ID,PMC_ID,CC\n" + "".join(
        f"{i},PMC{4000 + n}_fig1.jpg,CC BY-NC\n" for n, i in enumerate(ROCO_IDS[:2])), encoding="utf-8")
    return root


def write_figures(path: Path) -> Path:
    """PMC-OA-like JSONL: two good rows, one with a ROCO id, one in Spanish, two without an open licence."""
    def row(atlas_id: str, caption: str, licence: str | None, seed: int) -> dict:
        image = base64.b64encode(jpeg_bytes(draw_image(seed))).decode()
        return {"id": atlas_id, "image_b64": image, "caption": caption, "source": "PMC-OA"} | (
            {"licence": licence} if licence else {})

    rows = [row("PMC1_fig0", ENGLISH.format("upper"), "CC BY 4.0", 10),
            row("PMC1_fig1", ENGLISH.format("middle"), "CC0", 11),
            row("ROCO_00002", ENGLISH.format("lower"), "CC BY", 12),
            row("PMC1_es", SPANISH, "CC BY", 13),
            row("PMC1_arr", ENGLISH.format("upper"), "All rights reserved", 14),
            row("PMC1_nolic", ENGLISH.format("middle"), None, 15)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, Path]:
    """A small ROCO tree and a figure collection that shares one of its ids."""
    return write_roco(tmp_path / "roco"), write_figures(tmp_path / "pmcoa.jsonl")


def _stored(ids: list[str]) -> dict:
    from engine.store.factory import open_configured_store

    with open_configured_store(get_settings(), 1) as atlas:
        return {hit.atlas_id: hit.payload for hit in atlas.retrieve(ids)}


def test_roco_and_figures_in_one_run_fill_one_atlas(sources, settings_env: Path, capsys) -> None:
    roco, figures = sources
    argv = ["index", "--roco", str(roco), "--figures", str(figures), "--no-progress", "--batch-size", "4"]

    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "added 5, already stored 0, rejected 4" in out and "atlas: 5 images" in out
    for counted in ("duplicate_id 1", "other_language 1", "unknown_licence 2"):
        assert counted in out, (counted, out)
    lines = [json.loads(x) for x in (settings_env / "index-report.jsonl").read_text().splitlines()]
    assert {(x["id"], x["reason"]) for x in lines} == {
        ("ROCO_00002", "duplicate_id"), ("PMC1_es", "other_language"),
        ("PMC1_arr", "unknown_licence"), ("PMC1_nolic", "unknown_licence")}
    duplicate = next(x["detail"] for x in lines if x["reason"] == "duplicate_id")
    assert duplicate == f"id 'ROCO_00002' is in both ROCO {roco} and {figures}; kept from ROCO {roco}"

    stored = _stored([*ROCO_IDS, *FIGURE_IDS])
    assert {i: p.source for i, p in stored.items()} == {**dict.fromkeys(ROCO_IDS, "ROCO"),
                                                        **dict.fromkeys(FIGURE_IDS, "PMC-OA")}
    assert stored["ROCO_00002"].caption == ROCO_ROWS[1][1]  # ROCO's own row, not the figure's
    # ROCO as in a ROCO-only run: its licence as written, none where it has none, no language screen
    assert [stored[i].licence for i in ROCO_IDS] == ["CC BY-NC", "CC BY-NC", None]
    assert stored["ROCO_00003"].caption == ROCO_ROWS[2][1]
    assert stored["PMC1_fig1"].licence == "CC0"

    assert main(argv) == 0  # the same run again resumes: nothing embedded twice
    out = capsys.readouterr().out
    assert "added 0, already stored 5" in out and "atlas: 5 images" in out


def test_roco_licences_join_only_rocos_images(sources, settings_env: Path, capsys) -> None:
    roco, figures = sources
    assert main(["index", "--roco", str(roco), "--figures", str(figures), "--licences", str(roco),
                 "--allow-unknown-licences", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "added 7," in out and "atlas: 7 images" in out
    warnings = out.split("kept with")[1]
    # ROCO_00003 is the one stored image without a licence in ROCO's files; the figure rows without
    # an open licence are the collections' own warning, never counted again by ROCO's join
    assert "no_licence 1" in warnings and "unknown_licence 2" in warnings
    no_licence = [json.loads(x) for x in (settings_env / "index-report.jsonl").read_text().splitlines()
                  if '"no_licence"' in x]
    assert [x["id"] for x in no_licence] == ["ROCO_00003"]
    assert _stored(["PMC1_nolic"])["PMC1_nolic"].licence is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--parquet", "x.parquet", "--figures", "f.jsonl"], "--parquet cannot be combined with --figures"),
        (["--roco", "r", "--list-versions"], "--list-versions cannot be combined with --roco"),
        (["--parquet", "x.parquet", "--list-versions"], "--parquet cannot be combined with --list-versions"),
        ([], "give a source: --roco, --rocov2 and/or --figures"),
        (["--figures", "f.jsonl", "--licences", "r"], "--licences joins ROCO's licences.txt into --roco or --parquet"),
        (["--concepts-only", "--roco", "r", "--rocov2", "v2"], "--concepts-only reads one source at a time"),
    ],
)
def test_sources_that_cannot_go_together_are_a_usage_error(argv, message, settings_env, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["index", *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m engine index") and message in err and "Traceback" not in err


def test_a_wrong_path_among_several_fails_before_the_model_loads(sources, settings_env: Path, capsys) -> None:
    roco, _ = sources
    assert main(["index", "--roco", str(roco), "--figures", "/no/such.jsonl"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("index: error: ") and "/no/such.jsonl" in err and "Traceback" not in err


@pytest.mark.filterwarnings("ignore:Failed to obtain server version")
def test_on_a_server_one_run_builds_one_version_holding_every_collection(sources, settings_env, monkeypatch,
                                                                          capsys) -> None:
    from engine.store.client import ClientStore
    from tests.engine.store.conftest import SERVER_URL, stand_in_server

    shared = stand_in_server(monkeypatch)  # qdrant-client's :memory: mode behind the server's URL
    monkeypatch.setenv("MIRAGE_QDRANT_URL", SERVER_URL)
    get_settings.cache_clear()
    roco, figures = sources

    assert main(["index", "--roco", str(roco), "--no-progress"]) == 0  # ROCO alone: a version of 3
    assert ClientStore(shared, "roco").count() == 3
    capsys.readouterr()

    assert main(["index", "--roco", str(roco), "--figures", str(figures), "--no-progress"]) == 0
    out = capsys.readouterr().out
    version = out.split("building version '", 1)[1].split("'", 1)[0]
    assert f"alias 'roco' on {SERVER_URL} now points to '{version}' (5 images)" in out
    live = ClientStore(shared, "roco")  # what the engines read: both collections, ROCO not replaced
    assert live.count() == 5
    hits = live.retrieve([*ROCO_IDS, *FIGURE_IDS])
    assert {h.atlas_id: h.payload.source for h in hits} == {**dict.fromkeys(ROCO_IDS, "ROCO"),
                                                            **dict.fromkeys(FIGURE_IDS, "PMC-OA")}
