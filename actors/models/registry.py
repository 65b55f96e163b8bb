"""Build engines from a backend name and a few options: the one place the actors and the
CLI choose between the real models (the default) and the deterministic test backends.

Builders construct engines but do not load them: call ``load()`` (slow) in the worker
before it joins its job consumer. Each model actor usually builds only its own kind::

    llm = build_llm("real", EngineOptions.from_env()); llm.load()

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
]

import os
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
    llm_followup_decider: Literal["heuristic", "model"] = "heuristic"
    llm_state_mb: int = 256
    llm_state_dir: Path | None = None
    embedder: Literal["e5", "minilm"] = "e5"
    tts_voices: Mapping[str, str] = field(default_factory=_default_voices)
    tts_default: str | None = "espeak:en-us"
    questions: list[str] | None = None
    deterministic_delay_ms: int = 0
    deterministic_tts_realtime: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EngineOptions:
        """Options from ``PARLEY_MODEL_THREADS``, ``PARLEY_LLM_THREADS``, ``PARLEY_STT_BEAM``,
        ``PARLEY_STT_WINDOW_S``
        (Whisper's encoder window floor, 30 = stock), ``PARLEY_EMBEDDER``
        (``e5``/``minilm``), ``PARLEY_LLM_FOLLOWUP`` (``heuristic``/``model``),
        ``PARLEY_STT_DEVICE`` (``auto``/``cpu``/``cuda``), ``PARLEY_LLM_GPU_LAYERS`` (layers
        offloaded by a GPU build of llama.cpp; -1 all, 0 none),
        ``PARLEY_LLM_STATE_MB`` / ``PARLEY_LLM_STATE_DIR`` (the evaluated prompt
        prefixes kept across starts: size bound, 0 turns it off; directory),
        ``PARLEY_TTS_VOICES`` (``en=piper,ko=espeak:ko``) and, for the deterministic test
        LLM only, ``PARLEY_DETERMINISTIC_DELAY_MS``; unset ones keep defaults."""
        env = os.environ if env is None else env
        kwargs: dict[str, object] = {}
        if v := env.get("PARLEY_MODEL_THREADS"):
            kwargs["threads"] = max(1, int(v))
        if v := env.get("PARLEY_LLM_THREADS"):
            kwargs["llm_threads"] = max(1, int(v))
        if v := env.get("PARLEY_STT_BEAM"):
            kwargs["stt_beam_size"] = max(1, int(v))
        if v := env.get("PARLEY_STT_WINDOW_S"):
            kwargs["stt_window_s"] = min(30.0, max(1.0, float(v)))
        if v := env.get("PARLEY_EMBEDDER"):
            if v not in ("e5", "minilm"):
                raise ValueError(f"PARLEY_EMBEDDER must be e5 or minilm, not {v!r}")
            kwargs["embedder"] = v
        if v := env.get("PARLEY_STT_DEVICE"):
            kwargs["stt_device"] = v
        if v := env.get("PARLEY_LLM_GPU_LAYERS"):
            kwargs["llm_gpu_layers"] = int(v)
        if v := env.get("PARLEY_LLM_STATE_MB"):
            kwargs["llm_state_mb"] = max(0, int(v))
        if v := env.get("PARLEY_LLM_STATE_DIR"):
            kwargs["llm_state_dir"] = Path(v)
        if v := env.get("PARLEY_LLM_FOLLOWUP"):
            if v not in ("heuristic", "model"):
                raise ValueError(f"PARLEY_LLM_FOLLOWUP must be heuristic or model, not {v!r}")
            kwargs["llm_followup_decider"] = v
        if v := env.get("PARLEY_DETERMINISTIC_DELAY_MS"):
            kwargs["deterministic_delay_ms"] = max(0, int(v))
        if env.get("PARLEY_DETERMINISTIC_TTS_REALTIME", "") not in ("", "0"):
            kwargs["deterministic_tts_realtime"] = True
        if v := env.get("PARLEY_TTS_VOICES"):
            voices: dict[str, str] = {}
            for item in v.split(","):
                lang, sep, spec = item.partition("=")
                if not sep or not lang.strip() or not spec.strip():
                    raise ValueError(f"bad PARLEY_TTS_VOICES item {item!r}")
                voices[lang.strip().lower()] = spec.strip()
            kwargs["tts_voices"] = voices
        return cls(**kwargs)  # type: ignore[arg-type]


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


def build_stt(backend: Backend = "real", options: EngineOptions | None = None) -> SttEngine:
    opts = options or EngineOptions()
    if backend == "deterministic":
        return DeterministicStt()
    remote = RemoteConfig.stt_from_env()
    if remote is not None:
        from actors.models.remote.stt_openai import OpenAiStt

        return OpenAiStt(remote)
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
    deterministic stand-in. ``PARLEY_END_OF_TURN=off`` turns it off (``None``)."""
    if os.environ.get("PARLEY_END_OF_TURN", "").strip().lower() in ("off", "0", "none"):
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
        followup_decider=opts.llm_followup_decider,
        state_dir=opts.llm_state_dir,
        state_mb=opts.llm_state_mb,
    )


def build_remote_llm(options: EngineOptions | None = None) -> OpenAiLlm | None:
    """The LLM engine on an OpenAI-compatible server when ``PARLEY_LLM_URL`` is set (see
    :mod:`actors.models.remote.config`), else None (use :func:`build_llm`)."""
    cfg = RemoteConfig.llm_from_env()
    if cfg is None:
        return None
    opts = options or EngineOptions()
    return OpenAiLlm(
        cfg, temperature=opts.llm_temperature, followup_decider=opts.llm_followup_decider
    )


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


def build_tts(
    backend: Backend = "real",
    options: EngineOptions | None = None,
    speech: SpeechConfig | None = None,
) -> TtsRouter:
    """The voices per language. With ``speech`` (default for the real backend:
    :meth:`SpeechConfig.from_env`, i.e. ``PARLEY_TTS_URL``) the languages it names speak
    with the server's voice, and their embedded voice is the backup."""
    opts = options or EngineOptions()
    if backend == "deterministic":
        tone = DeterministicTts(realtime=opts.deterministic_tts_realtime)
        return TtsRouter({}, default=tone)
    built: dict[str, TtsEngine] = {}  # one engine per distinct spec
    for spec in {*opts.tts_voices.values(), *([opts.tts_default] if opts.tts_default else [])}:
        built[spec] = build_tts_voice(spec, opts)
    voices = {lang: built[spec] for lang, spec in opts.tts_voices.items()}
    default = built[opts.tts_default] if opts.tts_default else None
    speech = speech if speech is not None else SpeechConfig.from_env()
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
