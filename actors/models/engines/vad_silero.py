"""Streaming voice activity detection with the Silero VAD (v6) ONNX model that ships inside
faster-whisper, run by onnxruntime (no torch).

One ``InferenceSession`` per process is shared by every detector (onnxruntime sessions
are safe to ``run`` from several threads); each detector owns its streaming state (LSTM
``h``/``c``, the 64-sample context and leftover samples), so use one detector per audio
stream (per session) and never share one between threads.

The model takes rows of 64 context samples + 512 new samples (16 kHz) and returns one
speech probability per row; the recurrent state carries over between calls.
"""

from __future__ import annotations

__all__ = ["SileroVoiceDetector", "shared_session"]

import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from actors.models import assets
from actors.models.engines import VAD_FRAME_SAMPLES, EngineError

_CONTEXT = 64
_STATE_SHAPE = (1, 1, 128)

_session_lock = threading.Lock()
_sessions: dict[Path, Any] = {}


def shared_session(path: Path | None = None) -> Any:
    """The process-wide onnxruntime session for the Silero model at ``path`` (default
    :func:`actors.models.assets.silero_vad_path`), created on first use with one intra-op
    thread: a 32 ms frame takes well under a millisecond, and more threads only fight the
    STT/LLM for the two cores."""
    import onnxruntime as ort

    path = path or assets.silero_vad_path()
    with _session_lock:
        session = _sessions.get(path)
        if session is None:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            session = ort.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
            names = {i.name for i in session.get_inputs()}
            if names != {"input", "h", "c"}:
                raise EngineError(f"{path} is not a Silero VAD v5/v6 model (inputs {names})")
            _sessions[path] = session
        return session


class SileroVoiceDetector:
    """Per-stream Silero VAD state; see :class:`actors.models.engines.VoiceDetector`.

    Construction is cheap after the first detector in the process (the session is shared),
    so create one per session. ``model_path`` overrides the model file.
    """

    name = "silero-vad-v6"

    def __init__(self, model_path: Path | None = None) -> None:
        self._session = shared_session(model_path)
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def reset(self) -> None:
        self._h.fill(0.0)
        self._c.fill(0.0)
        self._context.fill(0.0)
        self._pending = np.zeros(0, dtype=np.float32)

    def process(self, pcm16: bytes) -> list[float]:
        """Speech probability (0..1) for each 512-sample frame completed by ``pcm16``
        (PCM16LE mono 16 kHz, any even length)."""
        if len(pcm16) % 2:
            raise EngineError("PCM16 data must have an even length")
        new = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0
        samples = np.concatenate([self._pending, new]) if self._pending.size else new
        n_frames = samples.size // VAD_FRAME_SAMPLES
        used = n_frames * VAD_FRAME_SAMPLES
        self._pending = samples[used:].copy()
        if n_frames == 0:
            return []
        frames = samples[:used].reshape(n_frames, VAD_FRAME_SAMPLES)
        # Each row is the previous frame's last 64 samples followed by the frame itself.
        contexts = np.empty((n_frames, _CONTEXT), dtype=np.float32)
        contexts[0] = self._context
        if n_frames > 1:
            contexts[1:] = frames[:-1, -_CONTEXT:]
        rows: npt.NDArray[np.float32] = np.concatenate([contexts, frames], axis=1)
        probs, self._h, self._c = self._session.run(
            None, {"input": rows, "h": self._h, "c": self._c}
        )
        self._context = frames[-1, -_CONTEXT:].copy()
        return [float(p) for p in np.asarray(probs).reshape(-1)]
