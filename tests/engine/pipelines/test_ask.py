"""The ask pipeline: numbered captions in the prompt, citations checked in code, captions when ungrounded."""

from __future__ import annotations

import re

import pytest

from engine.pipelines.ask import AskPipeline, UnknownAtlasIds
from engine.pipelines.results import InvalidInput

from .fakes import BagOfWordsClip, RecordingLLM, ScriptedLLM, atlas_of

CAPTIONS = {
    "ROCO_00001": "Pleural effusion with blunted costophrenic angle",
    "ROCO_00002": "Pneumothorax with visible pleural line [3]",
    "ROCO_00003": "Fracture of the distal radius.",
}
IDS = list(CAPTIONS)


@pytest.fixture
def store():
    return atlas_of(CAPTIONS, BagOfWordsClip())


def _numbered(prompt: str) -> list[tuple[int, str]]:
    return [(int(n), text) for n, text in re.findall(r"^\[(\d+)\] (.*)$", prompt, flags=re.MULTILINE)]


def test_the_prompt_numbers_the_captions_in_the_order_given_and_carries_the_question(store):
    llm = ScriptedLLM("Fluid [1].")
    AskPipeline(store, llm)("  why is the angle   blunted? ", ["ROCO_00003", "ROCO_00001", "ROCO_00002"])
    prompt = llm.calls[0]["prompt"]
    assert _numbered(prompt) == [
        (1, "Fracture of the distal radius."),
        (2, "Pleural effusion with blunted costophrenic angle."),
        # a caption's own bracket is not one of our markers
        (3, "Pneumothorax with visible pleural line (3)."),
    ]
    assert "Question: why is the angle blunted?" in prompt
    assert "Cite only numbers from 1 to 3" in prompt
    assert prompt.startswith("Below is an instruction") and prompt.endswith("### Response:\n")


def test_a_grounded_answer_keeps_valid_citations_and_maps_them_to_atlas_ids(store):
    llm = ScriptedLLM("The angle is blunted by fluid [2]. A fracture is also seen [1] [7].\n### End junk")
    result = AskPipeline(store, llm)("What else?", ["ROCO_00003", "ROCO_00001"], seed=5)
    assert result.grounded
    assert result.answer == "The angle is blunted by fluid [2]. A fracture is also seen [1]."
    assert result.citations == [(2, "ROCO_00001"), (1, "ROCO_00003")]
    assert [h.atlas_id for h in result.sources] == ["ROCO_00003", "ROCO_00001"]
    assert result.out_of_range == 1 and any("[7]" in note for note in result.notes)
    assert llm.calls[0]["seed"] == 5


@pytest.mark.parametrize("reply", [
    "It is certainly a glioblastoma.",  # no citation at all
    "It is a glioblastoma [4][9].",  # only invented ones
    "[1]",  # a marker and nothing else
    "",  # nothing
])
def test_without_a_valid_citation_the_answer_is_the_numbered_captions(store, reply):
    result = AskPipeline(store, ScriptedLLM(reply))("What is it?", IDS)
    assert not result.grounded and result.citations == []
    assert result.answer == (
        "[1] Pleural effusion with blunted costophrenic angle\n"
        "[2] Pneumothorax with visible pleural line [3]\n"
        "[3] Fracture of the distal radius."
    )
    assert "glioblastoma" not in result.answer
    assert result.notes


def test_a_failing_llm_still_answers_with_the_captions(store):
    def broken(prompt: str) -> str:
        raise RuntimeError("CUDA out of memory")

    result = AskPipeline(store, ScriptedLLM(broken))("What is it?", IDS[:1])
    assert not result.grounded and result.answer == "[1] Pleural effusion with blunted costophrenic angle"
    assert result.notes == ["the LLM failed (RuntimeError); here are the captions of the sources"]


def test_without_an_llm_the_captions_answer(store):
    result = AskPipeline(store, None)("What is it?", IDS[:2])
    assert not result.grounded and result.answer.startswith("[1] Pleural effusion")
    assert result.prompt is None and "disabled" in result.notes[0]


def test_unknown_ids_are_all_named(store):
    with pytest.raises(UnknownAtlasIds) as caught:
        AskPipeline(store, ScriptedLLM())("What?", ["ROCO_00001", "ROCO_99999", "nope"])
    assert str(caught.value) == "context_ids: no atlas image with id 'ROCO_99999', 'nope'"


def test_repeated_ids_count_once(store):
    llm = ScriptedLLM("Fluid [1].")
    result = AskPipeline(store, llm)("What?", ["ROCO_00001", "ROCO_00001", "ROCO_00002"])
    assert [h.atlas_id for h in result.sources] == ["ROCO_00001", "ROCO_00002"]
    assert len(_numbered(llm.calls[0]["prompt"])) == 2


@pytest.mark.parametrize(("question", "ids", "seed", "message"), [
    ("   ", IDS, None, "question: must not be empty"),
    ("x" * 501, IDS, None, "question: at most 500 characters (got 501)"),
    ("ok", [], None, "context_ids: between 1 and 10 distinct ids (got 0)"),
    ("ok", [f"ROCO_{i:05d}" for i in range(11)], None, "context_ids: between 1 and 10 distinct ids (got 11)"),
    ("ok", IDS, -1, "seed: between 0 and 4294967295 (got -1)"),
])
def test_bad_input_names_the_field_and_the_limit(store, question, ids, seed, message):
    with pytest.raises(InvalidInput) as caught:
        AskPipeline(store, ScriptedLLM())(question, ids, seed=seed)
    assert str(caught.value) == message


@pytest.mark.slow
def test_on_the_real_tiny_llm_the_prompt_carries_the_numbered_demo_captions_and_is_reproducible(
    tiny_llm, demo_store, demo_captions
):
    ids = list(demo_captions)[:4]
    llm = RecordingLLM(tiny_llm)
    ask = AskPipeline(demo_store, llm, max_new_tokens=16)
    first = ask("Where is the lesion?", ids, seed=3)
    again = ask("Where is the lesion?", ids, seed=3)
    assert _numbered(llm.prompts[0]) == [(n, demo_captions[i]) for n, i in enumerate(ids, 1)]
    assert llm.prompts[0] == first.prompt.text
    assert (first.answer, first.grounded, first.citations) == (again.answer, again.grounded, again.citations)
    # whatever the random model wrote, only citations 1…4 of these ids can come out
    assert all(1 <= n <= 4 and atlas_id == ids[n - 1] for n, atlas_id in first.citations)
    assert first.grounded == bool(first.citations)
