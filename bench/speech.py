"""Test speech: English answers spoken by espeak-ng, resampled to 16 kHz PCM16 by sox."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path


def have_speech_tools() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("sox"))


def speak_pcm16(
    text: str, *, voice: str = "en-us", rate_hz: int = 16000, words_per_min: int = 150
) -> bytes:
    """PCM16LE mono at ``rate_hz`` of ``text`` spoken by espeak-ng."""
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "speech.wav"
        raw = Path(d) / "speech.raw"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(words_per_min), "-w", str(wav), text],
            check=True,
            capture_output=True,
            timeout=30,
        )
        subprocess.run(
            [
                "sox",
                str(wav),
                "-r",
                str(rate_hz),
                "-c",
                "1",
                "-b",
                "16",
                "-e",
                "signed-integer",
                "-t",
                "raw",
                str(raw),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return raw.read_bytes()
