"""The engine interfaces the model actors call: synchronous, no NATS, no asyncio.

An engine wraps one model. The actor constructs it, calls ``load()`` once at start (slow:
seconds; do it before joining the job consumer), then calls the work methods from a worker
thread, never from the event loop. Unless an implementation says otherwise, engines are
NOT thread-safe: the actor serialises calls to one engine instance (one job at a time per
engine). Every engine has a ``name`` for logs and metrics.

Implementations: the real models (``stt_whisper``, ``vad_silero``, ``llm_qwen``,
``tts_piper``, ``tts_espeak``, ``embed_e5``, ``embed_minilm``) and the deterministic test
backends in :mod:`actors.models.engines.deterministic`. :mod:`actors.models.registry` builds them.
"""

from __future__ import annotations

__all__ = [
    "VAD_FRAME_MS",
    "VAD_FRAME_SAMPLES",
    "VAD_SAMPLE_RATE",
    "Embedder",
    "EndOfTurnModel",
    "EngineCancelled",
    "EngineError",
    "LlmEngine",
    "PrefillsAnswers",
    "SttEngine",
    "Transcription",
    "TtsEngine",
    "VoiceDetector",
]

import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from actors.errors import EngineCancelled, EngineError
from bus.jobs import LlmJob

#: The voice detectors work on 16 kHz audio in frames of 512 samples (32 ms).
VAD_SAMPLE_RATE = 16000
VAD_FRAME_SAMPLES = 512
VAD_FRAME_MS = 32


@dataclass(frozen=True, slots=True)
class Transcription:
    """What an :class:`SttEngine` heard in one segment.

    ``text`` is ``""`` whenever ``no_speech`` is true (silence, noise, or a transcript
    rejected as a hallucination). ``audio_ms`` is the duration of the input audio.
    """

    text: str
    no_speech: bool
    audio_ms: int


@runtime_checkable
class SttEngine(Protocol):
    """Speech to text for one segment at a time."""

    name: str

    def load(self) -> None:
        """Load the model (idempotent)."""
        ...

    def transcribe(
        self, pcm: bytes, sample_rate: int, language: str, prompt: str = ""
    ) -> Transcription:
        """Transcribe PCM16LE mono audio in ``language`` (``"en"``, ``"ko"``; never
        auto-detected). ``prompt`` is text already heard in this answer (context for the
        decoder, not transcribed again). Silence and noise give ``Transcription("", True,
        ...)``. Raises :class:`EngineError` on bad input (odd byte count, bad rate)."""
        ...


@runtime_checkable
class VoiceDetector(Protocol):
    """Streaming voice activity detection for ONE audio stream (one per session).

    Feed PCM16LE mono 16 kHz audio in pieces of any even length; the detector buffers
    leftover samples between calls and returns one speech probability (0..1) per completed
    512-sample frame (32 ms), in order. Endpointing policy (how long a silence ends an
    utterance) is the caller's business, not the detector's.
    """

    def process(self, pcm16: bytes) -> list[float]:
        """Speech probability for each frame completed by this piece of audio."""
        ...

    def reset(self) -> None:
        """Forget all streaming state (buffered samples, model state)."""
        ...


@runtime_checkable
class EndOfTurnModel(Protocol):
    """Says whether a speaker has finished their turn, from the sound of the turn's end.

    Stateless: give it the turn's audio (PCM16LE mono 16 kHz, ending where the silence
    started or a little after; only the last 8 s are used) at a pause, not per frame (a call
    costs tens of milliseconds). Thread-safe: one instance serves every session of a node.
    """

    name: str

    def load(self) -> None:
        """Load the model (tens of milliseconds to a second); call before the first use."""
        ...

    def probability(self, pcm16: bytes) -> float:
        """Probability (0..1) that the turn is complete; ``>= 0.5`` means complete. Raises
        :class:`EngineError` on bad input (odd byte count)."""
        ...


@runtime_checkable
class LlmEngine(Protocol):
    """The interviewer's language model.

    Candidate text in ``job.answer``, ``job.history`` and ``job.context`` is data, never
    instructions. Implementations are not thread-safe; the actor serialises calls.
    """

    name: str

    def load(self) -> None:
        """Load the model (idempotent)."""
        ...

    def generate(self, job: LlmJob, cancel: threading.Event) -> Generator[str, None, None]:
        """Stream the reply for task ``"question"`` or ``"followup"`` sentence by sentence,
        each sentence as soon as it is complete. The reply is ONE question in
        ``job.language``. A ``"followup"`` was decided by the session and quotes the answer
        (``job.anchor``): the engine phrases its question (nothing yielded: the session asks
        its own). Setting ``cancel`` stops generation at the next token (the generator then
        ends); ``close()`` on the generator stops it too and frees the engine at once.
        Raises :class:`EngineError` for other tasks."""
        ...

    def assess(self, job: LlmJob, cancel: threading.Event | None = None) -> dict[str, Any]:
        """Score ``job.answer`` to ``job.question``; returns a dict valid for
        :func:`actors.models.rubric.validate_assessment` (with ``"fallback": True`` when the
        model failed). Setting ``cancel`` (if given) makes the call stop at the next token
        and raise :class:`EngineCancelled`; it is checked before any work starts too."""
        ...

    def outline(self, job: LlmJob, cancel: threading.Event | None = None) -> str:
        """A short outline (a few lines) of a stronger answer to ``job.question`` given
        ``job.context`` (the résumé) and ``job.answer``, in ``job.language``; "" when the
        model gave nothing usable. ``cancel`` as for :meth:`assess`."""
        ...

    def claims(self, job: LlmJob, cancel: threading.Event | None = None) -> str:
        """The résumé sentences in ``job.context`` most worth asking about, as the JSON of
        :func:`actors.interview.picks.dump_picks` (checked with ``parse_picks``; ``{"claims":
        []}`` when the model gave nothing usable). ``cancel`` as for :meth:`assess`."""
        ...


@runtime_checkable
class PrefillsAnswers(Protocol):
    """An LLM engine that can read an answer into its cache before it is complete."""

    def prefill(self, job: LlmJob, cancel: threading.Event) -> int:
        """Task ``"prefill"``: evaluate the assessment prompt of ``job`` up to the end of the
        answer so far (``job.answer``) and keep it cached, so that the assessment of the
        whole answer only reads what was said after it. Returns the tokens evaluated (0 when
        ``cancel`` stopped it or nothing was new); never raises for model trouble."""
        ...


@runtime_checkable
class TtsEngine(Protocol):
    """Text to speech for one voice."""

    name: str
    sample_rate: int

    def load(self) -> None:
        """Start/load the voice (idempotent); after this ``sample_rate`` is final."""
        ...

    def synthesize(self, text: str) -> Generator[bytes, None, None]:
        """PCM16LE mono chunks at ``sample_rate``; the first chunk comes as early as the
        voice allows. Text with nothing speakable yields nothing. Exhaust or ``close()``
        the generator before the next call."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Sentence embeddings for retrieval. Output is float32, L2-normalised, ``(n, dim)``;
    an empty input list gives shape ``(0, dim)``. Queries and passages may be embedded
    differently (e5 prefixes), so use the matching method.

    Optional attributes read by :func:`actors.models.relate.relate`: ``similarity_range``
    ``(low, high)``, the cosines of unrelated texts and of a question with its answer
    (default ``(0, 1)``), and ``understands`` (default True; False for an embedder without
    meaning, whose ``relate`` answers are empty)."""

    name: str
    dim: int

    def load(self) -> None:
        """Load the model (idempotent)."""
        ...

    def embed_queries(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Embed search queries."""
        ...

    def embed_passages(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Embed documents/chunks to be searched."""
        ...
