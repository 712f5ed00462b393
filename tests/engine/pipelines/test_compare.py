"""Compare: the latent arithmetic, checked against NumPy on the same embeddings."""

import numpy as np
import pytest

from engine.pipelines.compare import ComparePipeline, latent_arithmetic
from engine.pipelines.results import InvalidInput
from engine.pipelines.retrieval import Retriever

from .fakes import BagOfWordsClip, atlas_of

CAPTIONS = {
    "A": "pleural effusion on chest x-ray",
    "B": "pleural effusion on chest ct",
    "C": "pneumothorax on chest ct",
    "D": "pneumothorax on chest x-ray",
}


def _numpy_reference(q, s, a):
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    return unit(unit(q) - unit(s) + unit(a))


def test_latent_arithmetic_matches_numpy_even_for_unnormalised_inputs():
    rng = np.random.default_rng(0)
    q, s, a = rng.standard_normal((3, 16)) * np.array([[3.0], [0.2], [7.0]])
    np.testing.assert_allclose(latent_arithmetic(q, s, a), _numpy_reference(q, s, a), atol=1e-6)


def test_the_subtracted_term_counts():
    rng = np.random.default_rng(1)
    q, s, a = rng.standard_normal((3, 16))
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    assert not np.allclose(latent_arithmetic(q, s, a), unit(unit(q) + unit(a)), atol=1e-3)


def test_compare_subtracting_the_added_term_is_identity():
    rng = np.random.default_rng(2)
    q, s = rng.standard_normal((2, 16))
    np.testing.assert_allclose(latent_arithmetic(q, s, s), q / np.linalg.norm(q), atol=1e-6)


def test_terms_that_cancel_out_are_refused():
    # q̂ + â = ŝ when q and a are 120° apart and s bisects them
    q, a, s = np.array([1.0, 0.0]), np.array([-0.5, 3**0.5 / 2]), np.array([0.5, 3**0.5 / 2])
    with pytest.raises(InvalidInput, match="cancel out"):
        latent_arithmetic(q, s, a)


def test_compare_pipeline_swaps_a_finding_and_retrieves_with_the_modified_vector():
    clip = BagOfWordsClip()
    store = atlas_of(CAPTIONS, clip)
    result = ComparePipeline(clip, Retriever(store, dedup_threshold=1.01))(
        "pleural effusion on chest x-ray", "pleural effusion", "pneumothorax", k=2
    )
    q, s, a = clip.encode_text(["pleural effusion on chest x-ray", "pleural effusion", "pneumothorax"])
    expected = _numpy_reference(q, s, a)
    np.testing.assert_allclose(result.modified_vector, expected, atol=1e-6)
    np.testing.assert_allclose(store.calls[-1]["vector"], expected, atol=1e-6)
    assert result.original[0].atlas_id == "A"
    assert result.modified[0].atlas_id == "D"
    matrix = np.stack([r.vector for r in store.records.values()])
    ids = list(store.records)
    assert [h.atlas_id for h in result.modified] == [ids[i] for i in np.argsort(-(matrix @ expected))[:2]]


@pytest.mark.parametrize("field", ["query", "subtract", "add"])
def test_empty_terms_are_refused_by_name(field):
    clip = BagOfWordsClip()
    terms = {"query": "a", "subtract": "b", "add": "c", field: "  "}
    with pytest.raises(InvalidInput, match=f"{field}: must not be empty"):
        ComparePipeline(clip, Retriever(atlas_of(CAPTIONS, clip), dedup_threshold=1.0))(**terms)
