"""First vs second retrieval through the real SearchPipeline, with hand-made encoders at the model edge."""

from __future__ import annotations

import numpy as np
import pytest

from engine.eval.data import EvalSplit
from engine.eval.enrichment import PoolRetriever, enrichment_effect

from .fakes import EchoLLM, TableClip

IMAGES = np.eye(4)


def _split() -> EvalSplit:
    return EvalSplit("test", "hand-made", [f"R{i}" for i in range(4)], [f"c{i}" for i in range(4)],
                     IMAGES.astype(np.float32))


def _clip() -> TableClip:
    texts = {
        "c0": np.array([0.5, 1.0, 0.0, 0.0]),   # own image ranks 2 (image 1 is nearer)
        "c1": np.array([0.0, 1.0, 0.0, 0.0]),   # rank 1
        "c2": np.array([1.0, 0.8, 0.6, 0.0]),   # rank 3
        "c3": np.array([1.0, 0.0, 0.0, 0.2]),   # rank 2
    }
    # the "explanation" of caption i points straight at image i, except for c1's (image 0 first)
    texts |= {f"about c{i}": IMAGES[i] for i in range(4)}
    texts["about c1"] = np.array([1.0, 0.5, 0.0, 0.0])  # rank 2
    return TableClip(texts, IMAGES)


def test_pool_retriever_ranks_the_split_by_cosine() -> None:
    hits = PoolRetriever(_split()).top_k(np.array([0.1, 0.9, 0.3, 0.0], dtype=np.float32), 3)
    assert [h.atlas_id for h in hits] == ["R1", "R2", "R0"]
    assert hits[0].payload.caption == "c1"
    assert hits[0].score == pytest.approx(0.9)


def test_enrichment_ranks_the_matched_image_before_and_after_the_llm() -> None:
    llm = EchoLLM(silent_on=["c3"])
    res = enrichment_effect(_split(), _clip(), llm, [0, 1, 2, 3], ks=(1, 2))
    assert res.first_ranks.tolist() == [2.0, 1.0, 3.0, 2.0]
    assert res.second_ranks.tolist() == [1.0, 2.0, 1.0, 2.0]  # c3: no explanation -> first retrieval kept
    assert res.first.recall == {1: 0.25, 2: 0.75}
    assert res.second.recall == {1: 0.5, 2: 1.0}
    assert (res.improved, res.worsened, res.fallbacks) == (2, 1, 1)
    assert res.enriched_texts == ["about c0", "about c1", "about c2", None]
    assert "1 of 4 queries got no usable explanation" in res.notes[0]
    # the LLM saw the captions of the top hits of the first retrieval (the pipeline's context)
    assert "[1] c1.\n[2] c0.\n[3] c2." in llm.prompts[0]  # the numbered captions of search's cited explanation
