"""Whisper-style log-mel features for the end-of-turn model, in numpy.

What Smart Turn v3 was trained on: 16 kHz audio, exactly the last 8 s of the turn (shorter
audio is zero-padded at the *start*, so the end of speech always sits at the same place),
normalised to zero mean and unit variance over those 8 s, then Whisper's log-mel recipe:
a 400-point periodic-Hann STFT every 160 samples (centred, reflect-padded), power
spectrum, 80 Slaney mel bands (0-8 kHz, Slaney area normalisation), ``log10`` floored at
1e-10, clamped to 8 below the maximum, mapped with ``(x + 4) / 4``; the last STFT frame is
dropped, giving 800 frames. The mel filter bank is faster-whisper's (the same Slaney bank
Whisper uses), so only the framing and normalisation live here.
"""

from __future__ import annotations

__all__ = ["N_FRAMES", "N_MELS", "SAMPLE_RATE", "WINDOW_SAMPLES", "log_mel", "window"]

import functools

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
WINDOW_SAMPLES = 8 * SAMPLE_RATE
N_MELS = 80
N_FRAMES = 800
_N_FFT = 400
_HOP = 160


def window(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The last 8 s of ``samples``, zero-padded at the start to exactly 8 s."""
    if samples.size >= WINDOW_SAMPLES:
        return np.ascontiguousarray(samples[-WINDOW_SAMPLES:], dtype=np.float32)
    out = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
    if samples.size:
        out[-samples.size :] = samples
    return out


@functools.cache
def _mel_filters() -> npt.NDArray[np.float64]:
    from faster_whisper.feature_extractor import FeatureExtractor

    bank = FeatureExtractor.get_mel_filters(SAMPLE_RATE, _N_FFT, n_mels=N_MELS)
    return np.asarray(bank, dtype=np.float64)  # (80, 201)


@functools.cache
def _hann() -> npt.NDArray[np.float64]:
    return np.hanning(_N_FFT + 1)[:-1]  # periodic, as torch.hann_window


def log_mel(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Features of shape ``(80, 800)`` (float32) for float audio in [-1, 1] at 16 kHz;
    the audio is first reduced to :func:`window`."""
    x = window(samples)
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    pad = _N_FFT // 2
    padded = np.pad(x.astype(np.float64), (pad, pad), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, _N_FFT)[::_HOP][:N_FRAMES]
    power = np.abs(np.fft.rfft(frames * _hann(), axis=-1)) ** 2  # (800, 201)
    mel = _mel_filters() @ power.T  # (80, 800)
    logs = np.log10(np.maximum(mel, 1e-10))
    logs = np.maximum(logs, logs.max() - 8.0)
    out: npt.NDArray[np.float32] = ((logs + 4.0) / 4.0).astype(np.float32)
    return out
