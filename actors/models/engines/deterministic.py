"""Deterministic TEST backends for every engine: no model, no randomness, instant.

They exist so the actors, the session flow and the end-to-end tests can run fast and
reproducibly on any machine. They are never the default (``registry`` builds the real
models unless ``backend="deterministic"`` is asked for explicitly), and their output is
obviously synthetic: do not mistake it for the real thing.

Documented behaviour (tests rely on it):

* :class:`DeterministicStt` — audio below -45 dBFS RMS (or shorter than 200 ms) is silence
  (``""``); otherwise one word per started 400 ms of audio, taken in order from a fixed
  word list for the language. The same audio always gives the same text.
* :class:`DeterministicVoiceDetector` — per 512-sample frame, probability 1.0 if the frame's
  RMS is above ``threshold_dbfs`` (default -40 dBFS), else 0.0; leftovers are buffered.
* :class:`DeterministicEndOfTurn` — a stand-in for the end-of-turn model, NOT a model:
  complete (1.0) iff the last 160 ms of voiced audio (frames above -40 dBFS) is at least
  6 dB quieter than the median voiced frame (a fading end, like a finished phrase);
  otherwise 0.0 (a level end, or no voice at all: not finished). Speech at a steady level
  therefore always waits for the silence fallback, as it did before the model existed.
* :class:`DeterministicLlm` — ``question``: the first question from the list (per language)
  that is not in ``job.asked``, cycling when all were asked; ``followup``: asks iff the
  answer has fewer than 8 words; ``assess``: scores from the answer's word count (raises
  ``EngineCancelled`` if its ``cancel`` is already set).
* :class:`DeterministicTts` — a quiet 440 Hz tone, 16 kHz, 60 ms per character (at least
  200 ms), in 100 ms chunks.
* :class:`DeterministicEmbedder` — hashed bag of lower-cased word tokens, 384 dimensions,
  L2-normalised (shared words mean higher cosine).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_QUESTIONS",
    "DeterministicEmbedder",
    "DeterministicEndOfTurn",
    "DeterministicLlm",
    "DeterministicStt",
    "DeterministicTts",
    "DeterministicVoiceDetector",
]

import hashlib
import math
import re
import threading
import time
from collections.abc import Generator
from typing import Any

import numpy as np
import numpy.typing as npt

from actors.interview.language import lang_of
from actors.interview.picks import MAX_PICKS, Pick, dump_picks
from actors.interview.text import split_sentences
from actors.models.audio import float_to_pcm16, pcm16_to_float, rms_dbfs
from actors.models.engines import (
    VAD_FRAME_SAMPLES,
    EngineCancelled,
    EngineError,
    Transcription,
)
from actors.models.rubric import SCORE_KEYS, validate_assessment
from bus.jobs import LlmJob

_WORDS = {
    "en": (
        "I worked on the payments service and reduced the latency by forty percent "
        "with a new cache and better monitoring for the team"
    ).split(),
    "ko": (
        "저는 결제 서비스를 맡아 새로운 캐시와 모니터링으로 지연 시간을 사십 퍼센트 줄였고 "
        "팀과 함께 안정적으로 운영했습니다"
    ).split(),
}

DEFAULT_QUESTIONS: dict[str, list[str]] = {
    "en": [
        "Tell me about a project you are proud of.",
        "Describe a difficult bug you fixed. How did you find it?",
        "How do you handle disagreements in your team?",
        "What would you improve in your last system, and why?",
    ],
    "ko": [
        "가장 자랑스러운 프로젝트에 대해 말씀해 주세요.",
        "해결했던 어려운 버그를 설명해 주세요. 어떻게 찾으셨나요?",
        "팀 안에서 의견이 다를 때 어떻게 하시나요?",
        "지난 시스템에서 무엇을 개선하고 싶으신가요? 그 이유는 무엇인가요?",
    ],
}

_FOLLOWUP = {
    "en": "Could you give a concrete example and tell me what the result was?",
    "ko": "구체적인 예와 그 결과를 말씀해 주시겠어요?",
}
_OUTLINE = {
    "en": "- Situation: the project and its stakes.\n- Your action: what you did yourself.\n"
    "- Result: the outcome in numbers.",
    "ko": "- 상황: 프로젝트와 그 중요성.\n- 행동: 본인이 직접 한 일.\n- 결과: 수치로 된 성과.",
}
_ASSESS_TEXT = {
    "en": ("You answered the question directly.", "Add a measurable result to your example."),
    "ko": ("질문에 직접 답하셨습니다.", "예시에 수치로 된 결과를 덧붙여 보세요."),
}


class DeterministicStt:
    """Test STT backend (see module docstring); thread-safe."""

    name = "deterministic-stt"

    def __init__(self, silence_dbfs: float = -45.0) -> None:
        self._silence_dbfs = silence_dbfs

    def load(self) -> None:
        pass

    def transcribe(
        self, pcm: bytes, sample_rate: int, language: str, prompt: str = ""
    ) -> Transcription:
        try:
            samples = pcm16_to_float(pcm)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        if sample_rate <= 0:
            raise EngineError(f"bad sample rate {sample_rate}")
        audio_ms = round(len(samples) * 1000 / sample_rate)
        if audio_ms < 200 or rms_dbfs(samples) < self._silence_dbfs:
            return Transcription("", True, audio_ms)
        words = _WORDS[lang_of(language)]
        n = math.ceil(audio_ms / 400)
        text = " ".join(words[i % len(words)] for i in range(n))
        return Transcription(text, False, audio_ms)


class DeterministicVoiceDetector:
    """Test voice detector: energy threshold per 32 ms frame (see module docstring)."""

    name = "deterministic-vad"

    def __init__(self, threshold_dbfs: float = -40.0) -> None:
        self._threshold = threshold_dbfs
        self._pending = np.zeros(0, dtype=np.float32)

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)

    def process(self, pcm16: bytes) -> list[float]:
        try:
            new = pcm16_to_float(pcm16)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        samples = np.concatenate([self._pending, new])
        n = samples.size // VAD_FRAME_SAMPLES
        self._pending = samples[n * VAD_FRAME_SAMPLES :].copy()
        frames = samples[: n * VAD_FRAME_SAMPLES].reshape(n, VAD_FRAME_SAMPLES)
        return [1.0 if rms_dbfs(f) > self._threshold else 0.0 for f in frames]


class DeterministicEndOfTurn:
    """Deterministic end-of-turn STAND-IN (see module docstring); thread-safe."""

    name = "deterministic-end-of-turn"
    _TAIL_FRAMES = 5  # 160 ms

    def __init__(self, threshold_dbfs: float = -40.0, drop_db: float = 6.0) -> None:
        self._threshold = threshold_dbfs
        self._drop = drop_db

    def load(self) -> None:
        pass

    def probability(self, pcm16: bytes) -> float:
        try:
            samples = pcm16_to_float(pcm16)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        n = samples.size // VAD_FRAME_SAMPLES
        frames = samples[: n * VAD_FRAME_SAMPLES].reshape(n, VAD_FRAME_SAMPLES)
        levels = [rms_dbfs(f) for f in frames]
        voiced = [lv for lv in levels if lv > self._threshold]
        if len(voiced) <= self._TAIL_FRAMES:
            return 0.0
        tail = voiced[-self._TAIL_FRAMES :]
        median = float(np.median(voiced))
        return 1.0 if max(tail) <= median - self._drop else 0.0


class DeterministicLlm:
    """Test LLM backend (see module docstring). ``questions`` replaces the built-in
    question lists (used for every language)."""

    name = "deterministic-llm"

    def __init__(self, questions: list[str] | None = None) -> None:
        self._questions = questions

    def load(self) -> None:
        pass

    def generate(self, job: LlmJob, cancel: threading.Event) -> Generator[str, None, None]:
        lang = lang_of(job.language)
        if job.task == "question":
            pool = self._questions or DEFAULT_QUESTIONS[lang]
            if not pool:
                return
            fresh = [q for q in pool if q not in job.asked]
            text = fresh[0] if fresh else pool[len(job.asked) % len(pool)]
        elif job.task == "followup":
            answer = job.answer or (job.history[-1].answer if job.history else "")
            if len(answer.split()) >= 8:
                return
            text = _FOLLOWUP[lang]
        else:
            raise EngineError(f"generate() does not do task {job.task!r}")
        for sentence in split_sentences(text):
            if cancel.is_set():
                return
            yield sentence

    def outline(self, job: LlmJob, cancel: threading.Event | None = None) -> str:
        if cancel is not None and cancel.is_set():
            raise EngineCancelled("outline cancelled")
        return _OUTLINE[lang_of(job.language)]

    def claims(self, job: LlmJob, cancel: threading.Event | None = None) -> str:
        """The sentences that state a figure, in order (at most five)."""
        if cancel is not None and cancel.is_set():
            raise EngineCancelled("claims cancelled")
        picks = [
            Pick(n=i, kind="metric")
            for i, s in enumerate(job.context)
            if any(ch.isdigit() for ch in s)
        ]
        return dump_picks(picks[:MAX_PICKS])

    def assess(self, job: LlmJob, cancel: threading.Event | None = None) -> dict[str, Any]:
        if cancel is not None and cancel.is_set():
            raise EngineCancelled("assessment cancelled")
        lang = lang_of(job.language)
        words = job.answer.split()
        n = len(words)
        has_number = any(ch.isdigit() for ch in job.answer)
        base = 1 + min(4, n // 15)
        scores = {
            "relevance": min(5, base + (1 if n else 0)),
            "depth": min(5, base + (1 if has_number else 0)),
            "clarity": 4 if 10 <= n <= 200 else 2,
            "role_fit": base,
        }
        strength, improvement = _ASSESS_TEXT[lang]
        evidence = [" ".join(words[:6])] if words else []
        data: dict[str, Any] = {
            **{k: scores[k] for k in SCORE_KEYS},
            "evidence": evidence,
            "strength": strength,
            "improvement": improvement,
        }
        return validate_assessment(data, job.answer, lang)


class DeterministicTts:
    """Test TTS backend: a quiet tone, length proportional to the text (see module
    docstring); thread-safe."""

    name = "deterministic-tts"
    sample_rate = 16000

    def __init__(
        self, ms_per_char: int = 60, amplitude: float = 0.05, *, realtime: bool = False
    ) -> None:
        self._ms_per_char = ms_per_char
        self._amplitude = amplitude
        #: stream each 100 ms chunk over 100 ms, as a real voice does (fault tests need a
        #: synthesis still streaming when they kill its worker)
        self._realtime = realtime
        if realtime:  # its own TTS cache entries: a paced voice is another voice
            self.name = "deterministic-tts-realtime"

    def load(self) -> None:
        pass

    def synthesize(self, text: str) -> Generator[bytes, None, None]:
        text = " ".join(text.split())
        if not text:
            return
        n = self.sample_rate * max(200, self._ms_per_char * len(text)) // 1000
        t = np.arange(n, dtype=np.float64) / self.sample_rate
        pcm = float_to_pcm16(self._amplitude * np.sin(2 * np.pi * 440.0 * t))
        step = self.sample_rate // 10 * 2  # 100 ms of PCM16
        for i in range(0, len(pcm), step):
            if self._realtime:
                time.sleep(0.1)
            yield pcm[i : i + step]


_TOKEN = re.compile(r"\w+", re.UNICODE)


class DeterministicEmbedder:
    """Test embedder: hashed bag of words (see module docstring); thread-safe."""

    name = "deterministic-embedder"
    dim = 384
    #: a hashed bag of words has no meaning to offer: ``relate`` jobs come back empty and
    #: the session's text rules decide alone
    understands = False

    def load(self) -> None:
        pass

    def _vector(self, text: str) -> npt.NDArray[np.float32]:
        vec = np.zeros(self.dim, dtype=np.float64)
        tokens = _TOKEN.findall(text.lower()) or [""]
        for tok in tokens:
            h = hashlib.blake2b(tok.encode("utf-8"), digest_size=8).digest()
            idx = int.from_bytes(h[:4], "little") % self.dim
            vec[idx] += 1.0 if h[4] & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:  # every token cancelled out: fall back to a fixed unit vector
            vec[0], norm = 1.0, 1.0
        return (vec / norm).astype(np.float32)

    def _embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_queries(self, texts: list[str]) -> npt.NDArray[np.float32]:
        return self._embed(texts)

    def embed_passages(self, texts: list[str]) -> npt.NDArray[np.float32]:
        return self._embed(texts)
