"""Helpers for the engine tests: synthetic speech from espeak-ng (+ sox to 16 kHz)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

HAVE_SPEECH_TOOLS = bool(shutil.which("espeak-ng") and shutil.which("sox"))

needs_speech_tools = pytest.mark.skipif(
    not HAVE_SPEECH_TOOLS, reason="needs espeak-ng and sox (apt-get install espeak-ng sox)"
)


def espeak_pcm(text: str, voice: str = "en-us", *, rate: int = 16000, pad_s: float = 0.3) -> bytes:
    """``text`` spoken by espeak-ng, as PCM16LE mono at ``rate`` with ``pad_s`` of silence
    on both sides."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "150", "-b", "1", "--stdout"],
        input=text.encode("utf-8"),
        capture_output=True,
        check=True,
    ).stdout
    raw = subprocess.run(
        [
            "sox",
            "-t",
            "wav",
            "-",
            "-t",
            "raw",
            "-r",
            str(rate),
            "-e",
            "signed",
            "-b",
            "16",
            "-c",
            "1",
            "-",
            "pad",
            str(pad_s),
            str(pad_s),
        ],
        input=wav,
        capture_output=True,
        check=True,
    ).stdout
    return raw


def rms(pcm: bytes) -> float:
    """RMS of PCM16 audio as a fraction of full scale."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def noise_pcm(seconds: float, amplitude: float, seed: int = 0, rate: int = 16000) -> bytes:
    """White noise at ``amplitude`` (fraction of full scale, standard deviation)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * rate)) * amplitude
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
