"""Small PCM helpers shared by the engines, tests and benchmarks (numpy only)."""

from __future__ import annotations

__all__ = [
    "WavFormat",
    "chunk_bytes",
    "float_to_pcm16",
    "parse_wav_header",
    "pcm16_to_float",
    "resample",
    "rms_dbfs",
    "wav_bytes",
]

import io
import math
import struct
import wave
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


def pcm16_to_float(pcm: bytes) -> npt.NDArray[np.float32]:
    """PCM16LE bytes to float32 samples in [-1, 1). Raises ``ValueError`` on an odd length."""
    if len(pcm) % 2:
        raise ValueError(f"PCM16 data must have an even length, got {len(pcm)} bytes")
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm16(samples: npt.NDArray[np.floating]) -> bytes:
    """float samples (clipped to [-1, 1]) to PCM16LE bytes."""
    clipped = np.clip(samples, -1.0, 1.0)
    data: bytes = (clipped * 32767.0).astype("<i2").tobytes()
    return data


def rms_dbfs(samples: npt.NDArray[np.float32]) -> float:
    """Root-mean-square level in dB relative to full scale (``-inf`` for digital silence)."""
    if samples.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * math.log10(rms) if rms > 0 else -math.inf


def resample(
    samples: npt.NDArray[np.float32], src_rate: int, dst_rate: int
) -> npt.NDArray[np.float32]:
    """Band-limited resampling of a whole clip through the FFT (exact for speech-length
    clips; not for streaming)."""
    if src_rate == dst_rate or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    n_out = max(1, round(samples.size * dst_rate / src_rate))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    n_bins = n_out // 2 + 1
    if n_bins <= spectrum.size:
        spectrum = spectrum[:n_bins]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(n_bins - spectrum.size, complex)])
    out = np.fft.irfft(spectrum, n_out) * (n_out / samples.size)
    return out.astype(np.float32)


def chunk_bytes(data: bytes, size: int) -> Iterator[bytes]:
    """Split ``data`` into pieces of at most ``size`` bytes (``size`` rounded down to
    whole 16-bit samples)."""
    size = max(2, size - size % 2)
    for i in range(0, len(data), size):
        yield data[i : i + size]


@dataclass(frozen=True, slots=True)
class WavFormat:
    """What a streaming consumer needs from a RIFF/WAVE header."""

    sample_rate: int
    channels: int
    bits: int
    header_len: int  # bytes before the first sample


def parse_wav_header(head: bytes) -> WavFormat | None:
    """Parse a RIFF/WAVE header at the start of ``head``.

    Returns ``None`` if more bytes are needed; raises ``ValueError`` if it is not a PCM
    WAV. Streaming writers (``espeak-ng --stdout``) put placeholder sizes in the header,
    so the sizes are ignored: everything after the ``data`` chunk header is audio.
    """
    if len(head) < 12:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE stream")
    pos = 12
    fmt: tuple[int, int, int] | None = None
    while True:
        if len(head) < pos + 8:
            return None
        chunk_id = head[pos : pos + 4]
        (chunk_len,) = struct.unpack_from("<I", head, pos + 4)
        body = pos + 8
        if chunk_id == b"data":
            if fmt is None:
                raise ValueError("WAV data chunk before fmt chunk")
            return WavFormat(sample_rate=fmt[1], channels=fmt[0], bits=fmt[2], header_len=body)
        if len(head) < body + chunk_len:
            return None
        if chunk_id == b"fmt ":
            audio_format, channels, rate = struct.unpack_from("<HHI", head, body)
            (bits,) = struct.unpack_from("<H", head, body + 14)
            if audio_format not in (1, 0xFFFE):
                raise ValueError(f"unsupported WAV encoding {audio_format}")
            fmt = (channels, rate, bits)
        pos = body + chunk_len + (chunk_len & 1)


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    """PCM16LE mono as a WAV file."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
    return buf.getvalue()
