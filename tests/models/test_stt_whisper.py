"""Whisper base through faster-whisper: speech is transcribed, silence and noise are not."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from actors.models.engines import EngineError, SttEngine
from actors.models.engines.stt_whisper import WhisperStt

from .conftest import espeak_pcm, needs_speech_tools, noise_pcm

pytestmark = [pytest.mark.models, needs_speech_tools]


@pytest.fixture(scope="module")
def stt() -> Iterator[WhisperStt]:
    engine = WhisperStt(cpu_threads=2)
    engine.load()
    yield engine


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_english_speech_is_transcribed(stt: WhisperStt) -> None:
    assert isinstance(stt, SttEngine)
    said = "I designed the payment service and we reduced the latency by half."
    pcm = espeak_pcm(said)
    result = stt.transcribe(pcm, 16000, "en")
    assert not result.no_speech
    assert result.audio_ms == pytest.approx(len(pcm) / 32, abs=1)
    overlap = words(said) & words(result.text)
    assert len(overlap) >= 0.6 * len(words(said)), result.text


def test_other_sample_rates_are_resampled(stt: WhisperStt) -> None:
    said = "Tell me about your last project."
    result = stt.transcribe(espeak_pcm(said, rate=22050), 22050, "en-US", prompt="Hello.")
    assert {"tell", "project"} <= words(result.text), result.text


@pytest.mark.parametrize("language", ["en", "ko"])
def test_silence_and_low_noise_give_nothing(stt: WhisperStt, language: str) -> None:
    for pcm in (bytes(3 * 32000), noise_pcm(3.0, 0.003), noise_pcm(3.0, 0.02, seed=1)):
        result = stt.transcribe(pcm, 16000, language)
        assert result.text == "" and result.no_speech, result


def test_hallucination_phrases_are_dropped(stt: WhisperStt) -> None:
    result = stt.transcribe(espeak_pcm("Thank you for watching."), 16000, "en")
    assert result.text == ""


def test_bad_input_is_an_engine_error(stt: WhisperStt) -> None:
    with pytest.raises(EngineError):
        stt.transcribe(b"\x00\x00\x00", 16000, "en")
    with pytest.raises(EngineError):
        stt.transcribe(bytes(3200), 16000, "klingon")
    with pytest.raises(EngineError):
        stt.transcribe(bytes(3200), 100, "en")
