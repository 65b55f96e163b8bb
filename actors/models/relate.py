"""Meaning, from the embedding model: how close texts are, and which talk to the grader.

:func:`relate` answers an ``EmbedJob(op="relate")``: the cosine similarity of every text to
every ref (e5 is used symmetrically, both sides as ``query:``), and, when asked, each text's
probability of being addressed to whoever scores the interview. That probability comes from
:class:`GraderClassifier`, a logistic regression over the embeddings of the exemplar
sentences in :mod:`actors.interview.exemplars` (text to the grader vs what candidates really
say), fitted once when the embed actor loads: a few seconds of embedding, milliseconds of
fitting, no stored weights, so it follows whatever embedder is configured.

Synchronous and CPU-bound: call it off the event loop.
"""

from __future__ import annotations

__all__ = ["GraderClassifier", "relate"]

import logging
import time

import numpy as np
import numpy.typing as npt

from actors.interview.exemplars import ANSWER, GRADER
from actors.models.engines import Embedder
from bus.jobs import RELATE_MAX, EmbedJob, EmbedResult

log = logging.getLogger(__name__)

_TEXT_CHARS = 800
_SCALE = 10.0  # unit vectors have tiny coordinates; scaled, plain gradient descent converges
_L2 = 0.01
_STEPS = 3000
_RATE = 0.5


class GraderClassifier:
    """P(text is addressed to the grader) from its embedding. :meth:`fit` before use."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._w: npt.NDArray[np.float64] | None = None
        self._b = 0.0

    @property
    def ready(self) -> bool:
        return self._w is not None

    def fit(self) -> None:
        """Embed the exemplars and fit the boundary (balanced classes, L2-regularised)."""
        started = time.monotonic()
        pos = [s for lang in sorted(GRADER) for s in GRADER[lang]]
        neg = [s for lang in sorted(ANSWER) for s in ANSWER[lang]]
        vectors = np.vstack([self._embedder.embed_queries(pos), self._embedder.embed_queries(neg)])
        x = vectors.astype(np.float64) * _SCALE
        y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
        weight = np.where(y == 1, len(y) / (2 * len(pos)), len(y) / (2 * len(neg)))
        w = np.zeros(x.shape[1])
        b = 0.0
        for _ in range(_STEPS):
            p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
            g = (p - y) * weight
            w -= _RATE * (x.T @ g / len(y) + _L2 * w / len(y))
            b -= _RATE * float(g.mean())
        self._w, self._b = w, b
        log.info(
            "grader classifier fitted on %d exemplars in %.1f s",
            len(y),
            time.monotonic() - started,
        )

    def probability(self, vectors: npt.NDArray[np.float32]) -> list[float]:
        """One probability per row of unit ``vectors`` (the embedder's own output)."""
        if self._w is None:
            raise RuntimeError("GraderClassifier.fit() was not called")
        if len(vectors) == 0:
            return []
        z = vectors.astype(np.float64) * _SCALE @ self._w + self._b
        return [round(float(v), 4) for v in 1.0 / (1.0 + np.exp(-z))]


def relate(embedder: Embedder, classifier: GraderClassifier | None, job: EmbedJob) -> EmbedResult:
    """The answer to a ``relate`` job (see :class:`bus.jobs.EmbedJob`).

    ``similarity[i][j]``: text ``i`` embedded as a passage (what is said) against ref ``j``
    as a query (what is asked), the way e5 is trained for retrieval; measured on the
    benchmark's tune half this told off-topic answers from weak on-topic ones better than
    comparing queries with queries. The cosine is rescaled by the embedder's
    ``similarity_range`` for the job's language (unrelated → 0, a question and its answer
    → 1, clipped), so one threshold holds across embedders and languages. Grader
    probabilities come from the texts embedded as queries. Texts beyond
    :data:`bus.jobs.RELATE_MAX` are left out, each is cut to 800 characters; without a
    fitted ``classifier`` no grader probabilities are given; an embedder that does not
    ``understand`` (the deterministic test one) answers nothing."""
    texts = [" ".join(t.split())[:_TEXT_CHARS] for t in job.texts[:RELATE_MAX]]
    refs = [" ".join(r.split())[:_TEXT_CHARS] for r in job.refs[:RELATE_MAX]]
    if not texts or not getattr(embedder, "understands", True):
        return EmbedResult(job_id=job.job_id)
    low, high = _range(embedder, job.language)
    similarity: list[list[float]] = []
    if refs:
        vt = embedder.embed_passages(texts)
        vr = embedder.embed_queries(refs)
        sim = np.clip((vt @ vr.T - low) / max(1e-6, high - low), 0.0, 1.0)
        similarity = [[round(float(v), 4) for v in row] for row in sim]
    grader: list[float] = []
    if job.grader and classifier is not None and classifier.ready:
        grader = classifier.probability(embedder.embed_queries(texts))
    return EmbedResult(job_id=job.job_id, similarity=similarity, grader=grader)


def _range(embedder: Embedder, language: str) -> tuple[float, float]:
    """The embedder's (unrelated, related) cosines for ``language`` (default (0, 1))."""
    ranges = getattr(embedder, "similarity_range", (0.0, 1.0))
    if isinstance(ranges, dict):
        lang = "ko" if language.split("-", 1)[0].lower() == "ko" else "en"
        pair = ranges.get(lang) or next(iter(ranges.values()))
        return float(pair[0]), float(pair[1])
    return float(ranges[0]), float(ranges[1])
