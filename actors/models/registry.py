"""Build engines from a backend name and a few options: the one place the actors and the
CLI choose between the real models (the default) and the deterministic test backends.

Builders construct engines but do not load them: call ``load()`` (slow) in the worker
before it joins its job consumer. Each model actor usually builds only its own kind::

    llm = build_llm("real", EngineOptions(llm_threads=1)); llm.load()

A process builds its :class:`EngineOptions` once from its settings
(:func:`parley.node.engine_options`); nothing here reads the environment.

TTS voices are configured per language with specs: ``"piper"`` (the packaged English
voice, or ``"piper:/path/voice.onnx"``), ``"espeak:<voice>"`` (e.g. ``espeak:ko``) and
``"deterministic"``.
"""

from __future__ import annotations

__all__ = [
    "Backend",
    "EngineOptions",
    "Engines",
    "VadFactory",
    "build_embedder",
    "build_end_of_turn",
    "build_engines",
    "build_llm",
    "build_remote_llm",
    "build_stt",
    "build_tts",
    "build_tts_voice",
    "build_vad",
    "parse_voices",
]

import threading
from collections.abc import Callable, Collection, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from actors.models.engines import (
    Embedder,
    EndOfTurnModel,
    EngineCancelled,
    EngineError,
    LlmEngine,
    SttEngine,
    TtsEngine,
    VoiceDetector,
)
from actors.models.engines.deterministic import (
    DeterministicEmbedder,
    DeterministicEndOfTurn,
    DeterministicLlm,
    DeterministicStt,
    DeterministicTts,
    DeterministicVoiceDetector,
)
from actors.models.engines.tts_router import TtsRouter
from actors.models.remote.config import RemoteConfig, SpeechConfig
from actors.models.remote.llm_openai import OpenAiLlm
from bus.jobs import LlmJob

Backend = Literal["real", "deterministic"]
Kind = Literal["stt", "vad", "llm", "tts", "embed"]
ALL_KINDS: tuple[Kind, ...] = ("stt", "vad", "llm", "tts", "embed")


def _default_voices() -> dict[str, str]:
    return {"en": "piper", "ko": "espeak:ko"}


@dataclass(frozen=True)
class EngineOptions:
    """Knobs that are the same whatever the interview language.

    ``threads`` is what each model may use (the cores of this worker), except the LLM,
    which gets ``llm_threads`` (1 by default: llama.cpp's spinning thread pool slows
    down 3-5x when another process wants one of its cores). ``embedder``
    selects ``"e5"`` (multilingual, default) or ``"minilm"`` (English only).
    ``tts_voices`` maps languages to voice specs; ``tts_default`` serves other languages
    (``None``: none). ``questions`` only feeds the deterministic LLM, and
    ``deterministic_delay_ms`` slows the deterministic LLM for fault tests (each job waits
    that long) and ``deterministic_tts_realtime`` makes the deterministic TTS stream in real
    time (``PARLEY_DETERMINISTIC_TTS_REALTIME=1``).
    """

    threads: int = 2
    llm_threads: int = 1
    stt_beam_size: int = 1
    stt_vad_filter: bool = True
    stt_window_s: float = 10.0
    stt_device: str = "auto"
    llm_n_ctx: int = 2048
    llm_gpu_layers: int = -1
    llm_temperature: float = 0.6
    #: the LLM's evaluated prompt prefixes kept across starts (0 MB: off; None: in the
    #: model cache): see actors/models/engines/state_store.py
    llm_state_mb: int = 256
    llm_state_dir: Path | None = None
    embedder: Literal["e5", "minilm"] = "e5"
    tts_voices: Mapping[str, str] = field(default_factory=_default_voices)
    tts_default: str | None = "espeak:en-us"
    questions: list[str] | None = None
    deterministic_delay_ms: int = 0
    deterministic_tts_realtime: bool = False
    #: the end-of-turn model beside VAD (False: end of turn from silence only)
    end_of_turn: bool = True
    #: the LLM / STT on an OpenAI-compatible server instead of embedded (None: embedded)
    llm_remote: RemoteConfig | None = None
    stt_remote: RemoteConfig | None = None
    #: the interviewer's voice from a speech server, per language (None: embedded only)
    tts_remote: SpeechConfig | None = None


def parse_voices(spec: str) -> dict[str, str]:
    """``"en=piper,ko=espeak:ko"`` as ``{"en": "piper", "ko": "espeak:ko"}`` (the
    ``PARLEY_TTS_VOICES`` syntax). Raises ValueError for an item without ``lang=spec``."""
    voices: dict[str, str] = {}
    for item in spec.split(","):
        lang, sep, voice = item.partition("=")
        if not sep or not lang.strip() or not voice.strip():
            raise ValueError(f"bad PARLEY_TTS_VOICES item {item!r}")
        voices[lang.strip().lower()] = voice.strip()
    return voices


@dataclass
class Engines:
    """The engines one node runs; kinds that were not requested are ``None``."""

    stt: SttEngine | None = None
    vad: Callable[[], VoiceDetector] | None = None
    llm: LlmEngine | None = None
    tts: TtsRouter | None = None
    embedder: Embedder | None = None

    def load(self) -> None:
        """Load every engine present (slow; run in a worker thread)."""
        for engine in (self.stt, self.llm, self.embedder):
            if engine is not None:
                engine.load()
        if self.tts is not None:
            self.tts.load()
        if self.vad is not None:
            self.vad()  # creates the shared ONNX session now rather than on first audio


class SlowLlm:
    """A test LLM that spends ``delay_s`` on every job before answering
    (``PARLEY_DETERMINISTIC_DELAY_MS``, deterministic backend only): fault tests need a job
    in flight long enough to kill its worker. The warm-up job is not delayed; a job's
    ``cancel`` ends the wait at once, as it stops a real model."""

    def __init__(self, inner: LlmEngine, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.name = inner.name

    def load(self) -> None:
        self.inner.load()

    def generate(self, job: LlmJob, cancel: threading.Event) -> Generator[str, None, None]:
        if job.job_id != "warmup" and cancel.wait(self.delay_s):
            return
        yield from self.inner.generate(job, cancel)

    def assess(self, job: LlmJob, cancel: threading.Event | None = None) -> dict[str, Any]:
        if (cancel or threading.Event()).wait(self.delay_s):
            raise EngineCancelled("assessment cancelled")
        return self.inner.assess(job, cancel)

    def outline(self, job: LlmJob, cancel: threading.Event | None = None) -> str:
        if (cancel or threading.Event()).wait(self.delay_s):
            raise EngineCancelled("outline cancelled")
        return self.inner.outline(job, cancel)

    def claims(self, job: LlmJob, cancel: threading.Event | None = None) -> str:
        if (cancel or threading.Event()).wait(self.delay_s):
            raise EngineCancelled("claims cancelled")
        return self.inner.claims(job, cancel)


def build_stt(backend: Backend = "real", options: EngineOptions | None = None) -> SttEngine:
    opts = options or EngineOptions()
    if backend == "deterministic":
        return DeterministicStt()
    if opts.stt_remote is not None:
        from actors.models.remote.stt_openai import OpenAiStt

        return OpenAiStt(opts.stt_remote)
    from actors.models.engines.stt_whisper import WhisperStt

    return WhisperStt(
        cpu_threads=opts.threads,
        beam_size=opts.stt_beam_size,
        vad_filter=opts.stt_vad_filter,
        window_s=opts.stt_window_s,
        device=opts.stt_device,
    )


@dataclass(frozen=True)
class VadFactory:
    """Makes one voice detector per audio stream (call it); carries the node's shared
    end-of-turn model (``None``: end of turn from silence only), which runs beside VAD."""

    make: Callable[[], VoiceDetector]
    end_of_turn: EndOfTurnModel | None = None

    def __call__(self) -> VoiceDetector:
        return self.make()


def build_vad(backend: Backend = "real", options: EngineOptions | None = None) -> VadFactory:
    """A factory: call it once per audio stream (each detector keeps per-stream state).
    Its ``end_of_turn`` is :func:`build_end_of_turn` for the same backend."""
    if backend == "deterministic":
        return VadFactory(DeterministicVoiceDetector, build_end_of_turn(backend, options))
    from actors.models.engines.vad_silero import SileroVoiceDetector

    return VadFactory(SileroVoiceDetector, build_end_of_turn(backend, options))


def build_end_of_turn(
    backend: Backend = "real", options: EngineOptions | None = None
) -> EndOfTurnModel | None:
    """The end-of-turn model (Smart Turn v3.2, one onnxruntime thread), or its
    deterministic stand-in; ``None`` when ``options.end_of_turn`` is off."""
    if options is not None and not options.end_of_turn:
        return None
    if backend == "deterministic":
        return DeterministicEndOfTurn()
    from actors.models.engines.turn_smart import SmartTurn

    return SmartTurn(threads=1)


def build_llm(backend: Backend = "real", options: EngineOptions | None = None) -> LlmEngine:
    opts = options or EngineOptions()
    if backend == "deterministic":
        llm = DeterministicLlm(opts.questions)
        if opts.deterministic_delay_ms:
            return SlowLlm(llm, opts.deterministic_delay_ms / 1000)
        return llm
    from actors.models.engines.llm_qwen import QwenLlm

    return QwenLlm(
        n_ctx=opts.llm_n_ctx,
        n_gpu_layers=opts.llm_gpu_layers,
        n_threads=opts.llm_threads,
        temperature=opts.llm_temperature,
        state_dir=opts.llm_state_dir,
        state_mb=opts.llm_state_mb,
    )


def build_remote_llm(options: EngineOptions | None = None) -> OpenAiLlm | None:
    """The LLM engine on an OpenAI-compatible server when ``options.llm_remote`` is set
    (see :mod:`actors.models.remote.config`), else None (use :func:`build_llm`)."""
    opts = options or EngineOptions()
    if opts.llm_remote is None:
        return None
    return OpenAiLlm(opts.llm_remote, temperature=opts.llm_temperature)


def build_tts_voice(spec: str, options: EngineOptions | None = None) -> TtsEngine:
    """One voice from a spec (see module docstring)."""
    kind, _, arg = spec.partition(":")
    if kind == "deterministic":
        return DeterministicTts()
    if kind == "espeak":
        from actors.models.engines.tts_espeak import EspeakTts

        return EspeakTts(arg or "en-us")
    if kind == "piper":
        from actors.models.engines.tts_piper import PiperTts

        return PiperTts(Path(arg) if arg else None)
    raise EngineError(f"unknown TTS voice spec {spec!r}")


def build_tts(backend: Backend = "real", options: EngineOptions | None = None) -> TtsRouter:
    """The voices per language. With ``options.tts_remote`` (``PARLEY_TTS_URL``) the
    languages it names speak with the server's voice, and their embedded voice is the
    backup."""
    opts = options or EngineOptions()
    if backend == "deterministic":
        tone = DeterministicTts(realtime=opts.deterministic_tts_realtime)
        return TtsRouter({}, default=tone)
    built: dict[str, TtsEngine] = {}  # one engine per distinct spec
    for spec in {*opts.tts_voices.values(), *([opts.tts_default] if opts.tts_default else [])}:
        built[spec] = build_tts_voice(spec, opts)
    voices = {lang: built[spec] for lang, spec in opts.tts_voices.items()}
    default = built[opts.tts_default] if opts.tts_default else None
    speech = opts.tts_remote
    if speech is None:
        return TtsRouter(voices, default=default)
    from actors.models.remote.tts_openai import OpenAiTts

    backups: dict[str, TtsEngine] = {}
    for lang, name in speech.voices.items():
        embedded = voices.get(lang, default)
        if embedded is not None:
            backups[lang] = embedded
        voices[lang] = OpenAiTts(speech, name)
    return TtsRouter(voices, default=default, backups=backups)


def build_embedder(backend: Backend = "real", options: EngineOptions | None = None) -> Embedder:
    opts = options or EngineOptions()
    if backend == "deterministic":
        return DeterministicEmbedder()
    if opts.embedder == "minilm":
        from actors.models.engines.embed_minilm import MiniLmEmbedder

        return MiniLmEmbedder(threads=opts.threads)
    from actors.models.engines.embed_e5 import E5Embedder

    return E5Embedder(num_threads=opts.threads)


def build_engines(
    backend: Backend = "real",
    options: EngineOptions | None = None,
    kinds: Collection[Kind] = ALL_KINDS,
) -> Engines:
    """The requested kinds of engine for ``backend`` (not loaded yet)."""
    unknown = set(kinds) - set(ALL_KINDS)
    if unknown:
        raise ValueError(f"unknown engine kinds: {sorted(unknown)}")
    return Engines(
        stt=build_stt(backend, options) if "stt" in kinds else None,
        vad=build_vad(backend, options) if "vad" in kinds else None,
        llm=build_llm(backend, options) if "llm" in kinds else None,
        tts=build_tts(backend, options) if "tts" in kinds else None,
        embedder=build_embedder(backend, options) if "embed" in kinds else None,
    )
