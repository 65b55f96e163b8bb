"""Embedders: e5 ranks Korean correctly; MiniLM works for English."""

from __future__ import annotations

import numpy as np
import pytest

from actors.models.engines import Embedder
from actors.models.engines.embed_e5 import E5Embedder
from actors.models.engines.embed_minilm import MiniLmEmbedder

pytestmark = pytest.mark.models

PASSAGES = [
    "저는 5년 동안 결제 시스템의 백엔드 개발자로 일했습니다.",
    "I enjoy hiking and cooking pasta on weekends.",
    "The quarterly marketing budget was approved in March.",
]


def check_shape(vecs: np.ndarray, n: int) -> None:
    assert vecs.shape == (n, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)


def test_e5_ranks_the_korean_passage_first_for_a_korean_query() -> None:
    emb = E5Embedder(num_threads=2)
    emb.load()
    assert isinstance(emb, Embedder)
    docs = emb.embed_passages(PASSAGES)
    query = emb.embed_queries(["백엔드 개발 경력이 얼마나 되나요?"])
    check_shape(docs, 3)
    check_shape(query, 1)
    scores = docs @ query[0]
    assert int(np.argmax(scores)) == 0 and scores[0] > 0.8
    english = emb.embed_queries(["How many years of backend experience?"])
    assert int(np.argmax(docs @ english[0])) == 0  # cross-lingual
    assert emb.embed_passages([]).shape == (0, 384)
    check_shape(emb.embed_passages(["", "\x00"]), 2)


def test_minilm_ranks_english() -> None:
    emb = MiniLmEmbedder(threads=2)
    emb.load()
    docs = emb.embed_passages(
        ["I worked five years as a backend developer on payment systems.", *PASSAGES[1:]]
    )
    query = emb.embed_queries(["How many years of backend experience?"])
    check_shape(docs, 3)
    assert int(np.argmax(docs @ query[0])) == 0
