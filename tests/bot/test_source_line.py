"""An image's source line as users read it: the collection is named beside the id when the image is
not from ROCO (a PMC-OA figure), and ROCO's lines (and an atlas that does not say) read as before."""

from __future__ import annotations

import pytest

from bot.render import teach
from bot.render.lines import source_line
from bot.render.text import hit_block
from bot.rules.quiz import Choice
from engine.contract import Hit, QuizChoice, Source

PMC_LINK = "[PMC1](<https://www.ncbi.nlm.nih.gov/pmc/articles/PMC1/>)"


def _hit(atlas_id: str, collection: str | None) -> Hit:
    return Hit(id=atlas_id, score=0.91, caption="Axial CT of the chest.", modality="ct",
               source=Source(roco_id=atlas_id, pmc_id="PMC1", licence="CC BY 4.0", collection=collection),
               image_url=f"/v1/atlas/{atlas_id}/image")


def test_a_figure_from_another_collection_is_named_in_search_results():
    hit = _hit("PMC1_fig2", "PMC-OA")
    assert source_line(hit) == f"`PMC1_fig2` (PMC-OA) · {PMC_LINK} · CC BY 4.0"
    assert f"`PMC1_fig2` (PMC-OA) · {PMC_LINK} · CC BY 4.0 · ct · similarity 0.91" in hit_block(hit, 1, "1.png")


@pytest.mark.parametrize("collection", ["ROCO", None])
def test_roco_and_unnamed_sources_read_as_before(collection):
    assert source_line(_hit("ROCO_00042", collection)) == f"`ROCO_00042` · {PMC_LINK} · CC BY 4.0"


def test_a_collection_name_cannot_format_the_message():
    assert source_line(_hit("X_1", "my_*set*")) == f"`X_1` (my\\_\\*set\\*) · {PMC_LINK} · CC BY 4.0"


def test_the_reveal_names_the_collection_of_each_choice():
    engine_choice = QuizChoice(text="Axial CT", full_text="Axial CT of the chest.", id="PMC1_fig2",
                               source=Source(roco_id="PMC1_fig2", pmc_id="PMC1", licence="CC BY", collection="PMC-OA"))
    figure = Choice.from_json(engine_choice.model_dump())  # as the question's row keeps it
    roco = Choice("Chest film", "Chest film.", "ROCO_1", {"roco_id": "ROCO_1", "pmc_id": "PMC9", "licence": "CC BY",
                                                          "collection": "ROCO"})
    assert teach.source_text(figure.source, figure.atlas_id) == "PMC1_fig2 (PMC-OA) · PMC1 · CC BY"
    assert teach.source_text(roco.source, roco.atlas_id) == "ROCO_1 · PMC9 · CC BY"
    joined = "\n".join(teach.choice_captions([figure, roco], answer_index=0))
    assert "-# PMC1_fig2 (PMC-OA) · PMC1 · CC BY" in joined and "-# ROCO_1 · PMC9 · CC BY" in joined
