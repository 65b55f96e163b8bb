"""The deterministic test backends behave as documented and satisfy the protocols."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from actors.models.engines import (
    Embedder,
    EngineCancelled,
    EngineError,
    LlmEngine,
    SttEngine,
    TtsEngine,
    VoiceDetector,
)
from actors.models.engines.deterministic import (
    DEFAULT_QUESTIONS,
    DeterministicEmbedder,
    DeterministicLlm,
    DeterministicStt,
    DeterministicTts,
    DeterministicVoiceDetector,
)
from actors.models.registry import EngineOptions, SlowLlm, build_end_of_turn, build_engines
from actors.models.rubric import validate_assessment
from bus.jobs import Exchange, LlmJob
from parley.config import Config
from parley.node import engine_options

from .conftest import noise_pcm, rms


def tone(seconds: float, amplitude: float = 0.3, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes()


def job(task: str, **kw: object) -> LlmJob:
    base: dict[str, object] = {
        "job_id": "s:1:llm",
        "session_id": "s",
        "task": task,
        "language": "en",
        "role": "engineer",
    }
    return LlmJob(**(base | kw))  # type: ignore[arg-type]


def test_protocols_are_satisfied() -> None:
    assert isinstance(DeterministicStt(), SttEngine)
    assert isinstance(DeterministicVoiceDetector(), VoiceDetector)
    assert isinstance(DeterministicLlm(), LlmEngine)
    assert isinstance(DeterministicTts(), TtsEngine)
    assert isinstance(DeterministicEmbedder(), Embedder)


def test_stt_is_a_function_of_length_and_energy() -> None:
    stt = DeterministicStt()
    assert stt.transcribe(bytes(32000), 16000, "en").text == ""
    assert stt.transcribe(noise_pcm(1.0, 0.001), 16000, "en").no_speech
    a = stt.transcribe(tone(2.0), 16000, "en")
    assert a == stt.transcribe(tone(2.0), 16000, "en")
    assert len(a.text.split()) == 5 and a.audio_ms == 2000 and not a.no_speech
    assert len(stt.transcribe(tone(4.0), 16000, "ko").text.split()) == 10
    with pytest.raises(EngineError):
        stt.transcribe(b"\x00\x01\x02", 16000, "en")


def test_voice_detector_thresholds_energy_and_buffers_leftovers() -> None:
    vad = DeterministicVoiceDetector()
    pcm = bytes(512 * 2 * 3) + tone(512 * 2 / 16000)
    assert vad.process(pcm[:1000]) == []  # 500 samples: not a frame yet
    assert vad.process(pcm[1000:]) == [0.0, 0.0, 0.0, 1.0, 1.0]
    vad.process(tone(0.01))
    vad.reset()
    assert vad.process(bytes(1024)) == [0.0]


def test_llm_questions_followups_and_assessments() -> None:
    llm = DeterministicLlm()
    cancel = threading.Event()
    first = DEFAULT_QUESTIONS["en"][0]
    assert " ".join(llm.generate(job("question"), cancel)) == first
    assert " ".join(llm.generate(job("question", asked=[first]), cancel)) != first
    ko = " ".join(llm.generate(job("question", language="ko"), cancel))
    assert ko == DEFAULT_QUESTIONS["ko"][0]
    custom = DeterministicLlm(["Why?", "How?"])
    assert list(custom.generate(job("question", asked=["Why?"]), cancel)) == ["How?"]
    assert list(custom.generate(job("question", asked=["Why?", "How?"]), cancel)) == ["Why?"]

    short = "It went fine."
    long = "I rewrote the billing job in Go and it became eight times faster overall."
    assert list(llm.generate(job("followup", answer=long), cancel)) == []
    assert len(list(llm.generate(job("followup", answer=short), cancel))) == 1
    hist = [Exchange("Q?", short)]
    assert len(list(llm.generate(job("followup", history=hist), cancel))) == 1
    cancel.set()
    assert list(llm.generate(job("question"), cancel)) == []

    for answer in ("", short, long * 6):
        out = llm.assess(job("assess", question="Q?", answer=answer))
        assert validate_assessment(out, answer, "en") == out
    assert llm.assess(job("assess", answer=long)) == llm.assess(job("assess", answer=long))
    with pytest.raises(EngineCancelled):
        llm.assess(job("assess", answer=long), cancel)
    with pytest.raises(EngineError):
        list(llm.generate(job("assess"), threading.Event()))


def test_slow_llm_assessment_ends_when_cancelled() -> None:
    slow = SlowLlm(DeterministicLlm(), delay_s=30.0)
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(EngineCancelled):
        slow.assess(job("assess", answer="I cut the build time from 20 to 5 minutes."), cancel)
    assert time.monotonic() - started < 5.0  # not the 30 s delay


def test_tts_is_a_quiet_tone_proportional_to_the_text() -> None:
    tts = DeterministicTts()
    short = b"".join(tts.synthesize("Hi there"))
    long = b"".join(tts.synthesize("Hi there " * 10))
    assert tts.sample_rate == 16000
    assert len(short) == 16000 * 2 * 480 // 1000
    assert len(long) > 8 * len(short)
    assert 0.01 < rms(long) < 0.06
    assert list(tts.synthesize("   ")) == []


def test_embedder_is_normalised_and_word_overlap_ranks_first() -> None:
    emb = DeterministicEmbedder()
    docs = emb.embed_passages(["postgres migration at scale", "cooking pasta", ""])
    q = emb.embed_queries(["how did the postgres migration go"])
    assert docs.shape == (3, 384) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert int(np.argmax(docs @ q[0])) == 0
    assert emb.embed_queries([]).shape == (0, 384)
    assert np.array_equal(emb.embed_queries(["x y"]), emb.embed_queries(["x y"]))


def test_registry_builds_the_deterministic_backend() -> None:
    engines = build_engines("deterministic", EngineOptions(questions=["Only question?"]))
    engines.load()
    assert engines.stt is not None and engines.llm is not None and engines.tts is not None
    assert engines.vad is not None and engines.embedder is not None
    assert isinstance(engines.vad(), DeterministicVoiceDetector)
    assert list(engines.llm.generate(job("question"), threading.Event())) == ["Only question?"]
    assert engines.tts.engine_for("ko").sample_rate == 16000


def test_registry_options_from_the_settings() -> None:
    cfg = Config.from_env(
        {
            "PARLEY_STT_THREADS": "1",
            "PARLEY_EMBEDDER": "minilm",
            "PARLEY_TTS_VOICES": "en=espeak:en-us, ko = espeak:ko",
            "PARLEY_END_OF_TURN": "off",
        }
    )
    opts = engine_options(cfg)
    assert opts.threads == 1 and opts.embedder == "minilm" and not opts.end_of_turn
    assert dict(opts.tts_voices) == {"en": "espeak:en-us", "ko": "espeak:ko"}
    assert build_end_of_turn("deterministic", opts) is None
    with pytest.raises(ValueError):
        Config.from_env({"PARLEY_EMBEDDER": "bert"})
    with pytest.raises(ValueError):
        engine_options(Config.from_env({"PARLEY_TTS_VOICES": "piper"}))
