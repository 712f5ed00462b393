"""The citation filter on hand-written LLM outputs: only [1]…[k] survive, every other case on purpose."""

from __future__ import annotations

import pytest

from engine.pipelines.citations import (
    check_citations,
    dropped_notes,
    marker_numbers,
    own_citations,
    strip_markers,
)


def test_valid_citations_are_kept_in_first_use_order():
    checked = check_citations("The lesion is bright on T2 [2], as the CT also shows [1].", k=3)
    assert checked.text == "The lesion is bright on T2 [2], as the CT also shows [1]."
    assert checked.cited == [2, 1] and checked.grounded
    assert checked.out_of_range == [] and checked.malformed == []


@pytest.mark.parametrize("marker", ["[0]", "[4]", "[12]"])
def test_out_of_range_citations_are_removed_from_the_text_and_counted(marker):
    checked = check_citations(f"A round mass [1] and an effusion {marker}.", k=3)
    assert checked.text == "A round mass [1] and an effusion."
    assert checked.cited == [1]
    assert checked.out_of_range == [int(marker[1:-1])]


def test_only_invented_citations_leave_the_answer_ungrounded():
    checked = check_citations("This is certainly a glioblastoma [7][9].", k=3)
    assert checked.cited == [] and not checked.grounded
    assert checked.out_of_range == [7, 9]
    assert "[7]" not in checked.text and "[9]" not in checked.text


def test_an_answer_without_any_citation_is_not_grounded():
    checked = check_citations("It is a benign cyst.", k=2)
    assert checked.cited == [] and not checked.grounded and checked.text == "It is a benign cyst."


def test_a_repeated_citation_stays_in_the_text_and_is_listed_once():
    checked = check_citations("Bright [1]. Round [1]. Upper left [2][1].", k=2)
    assert checked.cited == [1, 2]
    assert checked.repeated == 2
    assert checked.text == "Bright [1]. Round [1]. Upper left [2][1]."


def test_lists_inside_one_bracket_become_separate_markers():
    checked = check_citations("Both show it [1,2]; see also [2 ; 3] and [1 and 3].", k=3)
    assert checked.text == "Both show it [1][2]; see also [2][3] and [1][3]."
    assert checked.cited == [1, 2, 3]


def test_a_list_keeps_its_valid_numbers_and_drops_the_rest():
    checked = check_citations("Seen in [2, 12].", k=3)
    assert checked.text == "Seen in [2]." and checked.cited == [2] and checked.out_of_range == [12]


def test_spaces_inside_the_brackets_are_only_spacing():
    checked = check_citations("A nodule [ 2 ].", k=2)
    assert checked.text == "A nodule [2]." and checked.cited == [2]


def test_ranges_expand_and_their_numbers_above_k_are_dropped():
    assert check_citations("All of them [1-3].", k=3).cited == [1, 2, 3]
    checked = check_citations("All of them [2–5].", k=3)
    assert checked.cited == [2, 3] and checked.out_of_range == [4, 5] and checked.text == "All of them [2][3]."


@pytest.mark.parametrize("marker", ["[Figure 2]", "[^1]", "[n=3]", "[3-1]", "[1-40]"])
def test_malformed_markers_are_removed_and_counted_never_trusted(marker):
    checked = check_citations(f"A dark lesion {marker} in the liver [1].", k=3)
    assert checked.text == "A dark lesion in the liver [1]."
    assert checked.malformed == [marker] and checked.cited == [1]


def test_parentheses_are_content_not_citations():
    checked = check_citations("A 3 cm mass (3) in the lung (n = 2).", k=3)
    assert checked.cited == [] and not checked.grounded
    assert checked.text == "A 3 cm mass (3) in the lung (n = 2)."


def test_markers_alone_are_not_a_grounded_answer():
    checked = check_citations("[1] [2]", k=2)
    assert checked.cited == [1, 2] and not checked.grounded


def test_k_must_be_at_least_one():
    with pytest.raises(ValueError, match="k: at least 1"):
        check_citations("x [1]", k=0)


# --- issue 18: follow-ups and the search explanation --------------------------------------
def test_strip_markers_leaves_the_words_only():
    assert strip_markers("A rim [1][2], see [Figure 3] and (3 cm) [9].") == "A rim, see and (3 cm)."


def test_marker_numbers_reads_every_well_formed_marker():
    assert marker_numbers("as before [1-3]; also [9] and [7, 8] but not [Figure 4]") == {1, 2, 3, 7, 8, 9}


def test_a_sentence_repeated_from_an_earlier_answer_does_not_cite_on_its_own():
    earlier = ["The pleural line is visible [4]. It is a pneumothorax [1]."]
    text = check_citations("The pleural line is visible [2]. The CT shows it too [3].", 3).text
    assert own_citations(text, earlier) == [3]
    assert own_citations("The pleural line is visible [2].", earlier) == []
    assert own_citations("Visible [2].", earlier) == [2]  # too short to call a copy
    assert own_citations("The pleural line is visible in the apex [2].", earlier) == [2]  # not the same sentence


def test_dropped_notes_name_copied_numbers_apart_from_invented_ones():
    checked = check_citations("Seen [4] and [9], see [Fig 1].", 3)
    assert dropped_notes(checked, 3, {9}) == [
        "dropped citations copied from an earlier turn: [9] numbered that turn's sources; this answer's are [1]…[3]",
        "dropped citations outside [1]…[3]: [4]",
        "dropped markers that are not citations: [Fig 1]",
    ]
