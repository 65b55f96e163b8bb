"""End of turn with Smart Turn v3.2 (pipecat-ai/smart-turn, BSD-2-Clause), run by
onnxruntime on one thread.

A Whisper-tiny-sized audio classifier: from the last 8 s of the turn as log-mel features
(:mod:`actors.models.engines.turn_features`) it gives the probability that the speaker has
finished (prosody: a falling, finished phrase vs. a thinking pause). The ONNX file comes
from :func:`actors.models.assets.smart_turn_path` (extracted from the ``pipecat-ai``
wheel; Pipecat itself is never installed or imported). A call takes tens of milliseconds
on one core: run it at pauses, off the event loop.
"""

from __future__ import annotations

__all__ = ["SmartTurn"]

import threading
from pathlib import Path
from typing import Any

import numpy as np

from actors.models import assets
from actors.models.engines import EngineError
from actors.models.engines.turn_features import log_mel


class SmartTurn:
    """See :class:`actors.models.engines.EndOfTurnModel`. Thread-safe (one onnxruntime
    session; ``run`` may be called from several threads). ``model_path`` overrides the
    cached file; ``threads`` is onnxruntime's intra-op thread count."""

    name = "smart-turn-v3.2"

    def __init__(self, model_path: Path | None = None, threads: int = 1) -> None:
        self._path = model_path
        self._threads = threads
        self._session: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        import onnxruntime as ort

        with self._lock:
            if self._session is not None:
                return
            path = self._path or assets.smart_turn_path()
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self._threads
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.log_severity_level = 3
            session = ort.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
            inputs = {i.name: i.shape for i in session.get_inputs()}
            if "input_features" not in inputs:
                raise EngineError(f"{path} is not a Smart Turn v3 model (inputs {inputs})")
            self._session = session

    def probability(self, pcm16: bytes) -> float:
        if len(pcm16) % 2:
            raise EngineError("PCM16 data must have an even length")
        if self._session is None:
            self.load()
        samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0
        features = log_mel(samples)[np.newaxis]
        out = self._session.run(None, {"input_features": features})
        return float(np.asarray(out[0]).reshape(-1)[0])
