"""Search pipeline mechanics with a bag-of-words CLIP and a scripted LLM (exact control of the text)."""

import numpy as np
import pytest

from engine.pipelines.prompts import dolly_prompt, explain_instruction
from engine.pipelines.results import InvalidInput
from engine.pipelines.retrieval import Retriever
from engine.pipelines.search import SearchPipeline

from .fakes import BagOfWordsClip, ScriptedLLM, atlas_of

CAPTIONS = {
    "ROCO_1": "pleural effusion with blunted angle",
    "ROCO_2": "pleural effusion large on the right",
    "ROCO_3": "pleural thickening calcified",
    "ROCO_4": "fracture of the distal radius",
    "ROCO_5": "pneumothorax with visible pleural line",
}


def pipeline(llm=None, **kw):
    clip = BagOfWordsClip()
    store = atlas_of(CAPTIONS, clip)
    return SearchPipeline(clip, Retriever(store, dedup_threshold=0.999), llm, **kw), clip, store


def test_the_llm_prompt_carries_the_captions_of_the_top_three_hits():
    llm = ScriptedLLM("fracture of the distal radius")
    search, _, _ = pipeline(llm)
    result = search("pleural effusion", k=4)
    top3 = [h.payload.caption for h in result.hits[:3]]
    assert llm.calls[0]["prompt"] == dolly_prompt(explain_instruction("pleural effusion", top3))
    assert [h.atlas_id for h in result.context] == [h.atlas_id for h in result.hits[:3]]


def test_context_has_three_captions_even_when_k_is_one():
    llm = ScriptedLLM("pleural effusion")
    search, _, _ = pipeline(llm)
    result = search("pleural effusion", k=1)
    assert len(result.hits) == 1 and len(result.context) == 3


def test_second_retrieval_uses_the_enriched_text():
    llm = ScriptedLLM("fracture of the distal radius")  # steers away from the query's own top hit
    search, clip, _ = pipeline(llm)
    result = search("pleural effusion", k=2)
    assert result.hits[0].atlas_id in {"ROCO_1", "ROCO_2"}
    assert result.enriched == "fracture of the distal radius"
    assert result.best.atlas_id == "ROCO_4"
    assert clip.texts == ["pleural effusion", "fracture of the distal radius"]
    np.testing.assert_allclose(result.enriched_vector, clip.encode_text([result.enriched])[0], atol=1e-6)


def test_llm_parameters_are_the_reference_ones_and_the_seed_is_passed_through():
    llm = ScriptedLLM("pneumothorax")
    search, _, _ = pipeline(llm, max_new_tokens=100, top_p=0.92, default_seed=11)
    search("pneumothorax")
    search("pneumothorax", seed=5)
    assert [(c["max_new_tokens"], c["top_p"], c["seed"]) for c in llm.calls] == [(100, 0.92, 11), (100, 0.92, 5)]


def test_without_enrich_the_llm_is_not_called_and_best_is_the_top_hit():
    llm = ScriptedLLM("fracture")
    search, _, _ = pipeline(llm)
    result = search("pleural effusion", enrich=False)
    assert llm.calls == [] and result.enriched is None
    assert result.best.atlas_id == result.hits[0].atlas_id


@pytest.mark.parametrize("reply", ["", "   ", "### End", "... 123 !!", "\n\n"])
def test_unusable_llm_output_falls_back_to_the_top_hit_with_a_note(reply):
    search, _, _ = pipeline(ScriptedLLM(reply))
    result = search("pleural effusion")
    assert result.enriched is None and result.best.atlas_id == result.hits[0].atlas_id
    assert any("no usable explanation" in n for n in result.notes)


def test_a_failing_llm_falls_back_to_the_top_hit_with_a_note():
    def boom(_prompt):
        raise RuntimeError("CUDA out of memory")

    search, _, _ = pipeline(ScriptedLLM(boom))
    result = search("pleural effusion")
    assert result.best.atlas_id == result.hits[0].atlas_id
    assert result.notes == ["the LLM failed (RuntimeError); the best image is the top hit"]


def test_without_an_llm_search_says_so():
    search, _, _ = pipeline(None)
    result = search("pleural effusion")
    assert result.enriched is None and "LLM is disabled" in result.notes[0]


def test_near_duplicates_are_folded_and_k_is_still_filled():
    clip = BagOfWordsClip()
    captions = {**CAPTIONS, "ROCO_1b": CAPTIONS["ROCO_1"], "ROCO_1c": CAPTIONS["ROCO_1"]}
    store = atlas_of(captions, clip)
    search = SearchPipeline(clip, Retriever(store, dedup_threshold=0.985))
    ids = [h.atlas_id for h in search(CAPTIONS["ROCO_1"], k=4, enrich=False).hits]
    assert len(ids) == 4 and len({"ROCO_1", "ROCO_1b", "ROCO_1c"} & set(ids)) == 1


def test_modality_filter_reaches_the_store():
    search, _, store = pipeline(None)
    assert search("pleural effusion", modality="ct", enrich=False).hits == []
    assert store.calls[-1]["modality"] == "ct"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": ""}, "query: must not be empty"),
        ({"query": "x" * 501}, "query: at most 500 characters"),
        ({"query": "ok", "k": 0}, "k: between 1 and 10"),
        ({"query": "ok", "k": 11}, "k: between 1 and 10"),
        ({"query": "ok", "seed": -1}, "seed: between 0 and"),
        ({"query": "ok", "modality": "xray"}, "modality: one of x-ray"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(kwargs, message):
    search, _, _ = pipeline(None)
    query = kwargs.pop("query")
    with pytest.raises(ValueError, match=message) as info:
        search(query, **kwargs)
    assert isinstance(info.value, InvalidInput)


def test_when_many_copies_fill_the_first_page_the_store_is_asked_again():
    clip = BagOfWordsClip()
    copies = {f"COPY_{i}": CAPTIONS["ROCO_1"] for i in range(12)}
    store = atlas_of({**copies, **CAPTIONS}, clip)
    hits = Retriever(store, dedup_threshold=0.985).top_k(clip.encode_text([CAPTIONS["ROCO_1"]])[0], 3)
    assert len(hits) == 3 and sum(h.atlas_id.startswith("COPY_") or h.atlas_id == "ROCO_1" for h in hits) == 1
    assert [c["k"] for c in store.calls] == [7, 14, 28]  # 13 copies, then two more distinct hits


# --- issue 18, part 3: a cited explanation ------------------------------------------------
def _cites_the_radius(prompt: str) -> str:
    number = next(line[1] for line in prompt.splitlines() if line.startswith("[") and "radius" in line)
    return f"A distal radius fracture [{number}], not [7]; see [Figure 2] and [{number}]."


def test_the_explanation_keeps_its_valid_markers_maps_them_to_the_context_hits_and_is_grounded():
    llm = ScriptedLLM(_cites_the_radius)
    search, _, _ = pipeline(llm)
    result = search("fracture of the distal radius pleural", k=3)
    n = next(i for i, h in enumerate(result.context, 1) if h.atlas_id == "ROCO_4")
    assert result.grounded is True and result.citations == [(n, "ROCO_4")]
    assert result.enriched == f"A distal radius fracture [{n}], not; see and [{n}]."
    assert result.notes == ["dropped citations outside [1]…[3]: [7]", "dropped markers that are not citations: [Figure 2]"]


def test_the_second_retrieval_embeds_the_explanation_without_its_markers():
    llm = ScriptedLLM("fracture of the distal radius [1][2]")
    search, clip, _ = pipeline(llm)
    result = search("pleural effusion", k=2)
    assert result.enriched == "fracture of the distal radius [1][2]"
    assert clip.texts == ["pleural effusion", "fracture of the distal radius"]
    assert result.best.atlas_id == "ROCO_4"


def test_an_explanation_citing_nothing_valid_is_kept_but_not_grounded():
    search, _, _ = pipeline(ScriptedLLM("pleural effusion everywhere [12]"))
    result = search("pleural effusion", k=2)
    assert (result.enriched, result.grounded, result.citations) == ("pleural effusion everywhere", False, [])


def test_an_explanation_of_markers_only_is_no_explanation():
    search, _, _ = pipeline(ScriptedLLM("[1][2] [3]"))
    result = search("pleural effusion", k=2)
    assert result.enriched is None and result.best.atlas_id == result.hits[0].atlas_id
    assert result.notes == ["the LLM wrote no usable explanation; the best image is the top hit"]
