"""Silero VAD from faster-whisper's assets: streaming state, framing, thread safety."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from actors.models.engines import EngineError, VoiceDetector
from actors.models.engines.vad_silero import SileroVoiceDetector, shared_session

from .conftest import espeak_pcm, needs_speech_tools, noise_pcm

pytestmark = [pytest.mark.models, needs_speech_tools]


@pytest.fixture(scope="module")
def speech() -> bytes:
    return (
        bytes(32000) + espeak_pcm("This is a test of the voice detector.", pad_s=0) + bytes(32000)
    )


def test_speech_is_detected_and_silence_is_not(speech: bytes) -> None:
    vad = SileroVoiceDetector()
    assert isinstance(vad, VoiceDetector)
    probs = vad.process(speech)
    assert len(probs) == len(speech) // 2 // 512
    lead = probs[:25]  # the first 0.8 s are silence
    assert max(lead) < 0.2
    assert np.mean([p > 0.5 for p in probs[35:-40]]) > 0.6
    assert max(probs[-20:]) < 0.3
    vad.reset()
    assert max(vad.process(noise_pcm(2.0, 0.01))) < 0.5


def test_any_split_gives_the_same_probabilities(speech: bytes) -> None:
    whole = SileroVoiceDetector().process(speech)
    pieces: list[float] = []
    vad = SileroVoiceDetector()
    rng = np.random.default_rng(0)
    i = 0
    while i < len(speech):
        n = int(rng.integers(1, 4000)) * 2
        pieces += vad.process(speech[i : i + n])
        i += n
    assert np.allclose(whole, pieces, atol=1e-5)


def test_detectors_share_one_session_but_not_state(speech: bytes) -> None:
    a, b = SileroVoiceDetector(), SileroVoiceDetector()
    assert shared_session() is shared_session()
    results: dict[str, list[float]] = {}

    def run(name: str, vad: SileroVoiceDetector) -> None:
        results[name] = vad.process(speech)

    threads = [threading.Thread(target=run, args=(n, v)) for n, v in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert np.allclose(results["a"], results["b"], atol=1e-6)


def test_odd_byte_counts_are_rejected() -> None:
    with pytest.raises(EngineError):
        SileroVoiceDetector().process(b"\x00\x00\x00")
