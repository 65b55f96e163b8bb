"""Turn-taking from VAD frames: onset, segment cuts and end of utterance.

Pure and clock-free: time is counted in frames of audio, so the decisions do not depend
on how the shell batches VAD results. Feed frames one by one with :func:`feed`; it returns
the signals the caller acts on:

- :class:`Onset` — an utterance opened (enough speech in a row). The pre-roll is kept.
- :class:`SegmentCut` — a piece of the utterance is ready for STT: at an inner pause once
  it holds enough speech, or at the maximum segment length. Sending pieces while the
  candidate still speaks is what makes the final transcript nearly free.
- :class:`Endpoint` — the utterance ended (long trailing silence, or the length cap; or
  :func:`end_turn` when the end-of-turn model said the speaker finished). Any remaining
  speech was cut just before it.

Which trailing silence ends the utterance is the caller's choice per frame
(``EndpointParams.endpoint_ms``): the long one by default, the short one when the words so
far look like a finished sentence.
"""

from __future__ import annotations

__all__ = [
    "Endpoint",
    "EndpointParams",
    "Endpointer",
    "Onset",
    "SegmentCut",
    "Signal",
    "cut_now",
    "end_turn",
    "feed",
    "flush",
]

from typing import Literal

import msgspec


class Endpointer(msgspec.Struct, kw_only=True):
    """Endpointing state of one listener (part of the session state)."""

    active: bool = False
    onset_ms: float = 0.0
    preroll: bytes = b""
    segment: bytes = b""
    segment_ms: float = 0.0
    segment_speech_ms: float = 0.0
    silence_ms: float = 0.0
    speech_ms: float = 0.0
    utterance_ms: float = 0.0


class EndpointParams(msgspec.Struct, frozen=True, kw_only=True):
    """Thresholds for one frame, chosen by the caller (see module docstring)."""

    frame_ms: float
    bytes_per_ms: float
    onset_ms: float
    preroll_bytes: int
    segment_pause_ms: float
    min_segment_speech_ms: float
    max_segment_ms: float
    endpoint_ms: float
    max_utterance_ms: float
    min_utterance_ms: float = 0.0
    """Shorter utterances end without a last cut: the caller drops them (coughs)."""


class Onset(msgspec.Struct, frozen=True):
    speech_ms: float


class SegmentCut(msgspec.Struct, frozen=True):
    pcm: bytes
    speech_ms: float


Reason = Literal["silence", "max_utterance", "flush", "turn"]


class Endpoint(msgspec.Struct, frozen=True):
    reason: Reason
    speech_ms: float
    utterance_ms: float = 0.0


Signal = Onset | SegmentCut | Endpoint


def feed(ep: Endpointer, frame: bytes, speech: bool, p: EndpointParams) -> list[Signal]:
    """Advance ``ep`` by one frame and return what happened, in order."""
    if not ep.active:
        return _feed_idle(ep, frame, speech, p)
    ep.segment += frame
    ep.segment_ms += p.frame_ms
    ep.utterance_ms += p.frame_ms
    if speech:
        ep.silence_ms = 0.0
        ep.segment_speech_ms += p.frame_ms
        ep.speech_ms += p.frame_ms
    else:
        ep.silence_ms += p.frame_ms
    if ep.utterance_ms >= p.max_utterance_ms:
        return _end(ep, "max_utterance", p)
    if ep.silence_ms >= p.endpoint_ms:
        return _end(ep, "silence", p)
    pause = ep.silence_ms >= p.segment_pause_ms
    if pause and ep.segment_speech_ms >= p.min_segment_speech_ms:
        return [_cut(ep, p)]
    if ep.segment_ms >= p.max_segment_ms and ep.segment_speech_ms > 0:
        return [_cut(ep, p)]
    return []


def flush(ep: Endpointer, p: EndpointParams) -> list[Signal]:
    """End the open utterance now (audio stalled, forced end). No-op when idle."""
    if not ep.active:
        _reset(ep)
        return []
    return _end(ep, "flush", p)


def cut_now(ep: Endpointer, p: EndpointParams, min_speech_ms: float) -> SegmentCut | None:
    """Cut the open segment now if it holds at least ``min_speech_ms`` of speech (at a
    pause the end-of-turn model is judging: its words are then being transcribed while
    the model decides)."""
    if not ep.active or ep.segment_speech_ms < min_speech_ms:
        return None
    return _cut(ep, p)


def end_turn(ep: Endpointer, p: EndpointParams) -> list[Signal]:
    """End the open utterance now because the end-of-turn model said the speaker
    finished (reason ``turn``). No-op when idle."""
    if not ep.active:
        return []
    return _end(ep, "turn", p)


def _feed_idle(ep: Endpointer, frame: bytes, speech: bool, p: EndpointParams) -> list[Signal]:
    ep.preroll = (ep.preroll + frame)[-p.preroll_bytes :] if p.preroll_bytes else b""
    # Hysteresis: a lone non-speech frame inside speech only takes one frame back.
    ep.onset_ms = ep.onset_ms + p.frame_ms if speech else max(0.0, ep.onset_ms - p.frame_ms)
    if ep.onset_ms < p.onset_ms:
        return []
    speech_ms = ep.onset_ms
    ep.active = True
    ep.segment, ep.preroll = ep.preroll, b""
    ep.segment_ms = len(ep.segment) / p.bytes_per_ms
    ep.utterance_ms = ep.segment_ms
    ep.segment_speech_ms = ep.speech_ms = speech_ms
    ep.silence_ms = 0.0
    ep.onset_ms = 0.0
    return [Onset(speech_ms)]


def _cut(ep: Endpointer, p: EndpointParams) -> SegmentCut:
    # Keep at most a pause's worth of trailing silence: STT time is spent on every byte.
    extra_ms = max(0.0, ep.silence_ms - p.segment_pause_ms)
    extra = int(extra_ms * p.bytes_per_ms) & ~1
    pcm = ep.segment[: len(ep.segment) - extra] if extra else ep.segment
    cut = SegmentCut(pcm, ep.segment_speech_ms)
    ep.segment = b""
    ep.segment_ms = 0.0
    ep.segment_speech_ms = 0.0
    return cut


def _end(ep: Endpointer, reason: Reason, p: EndpointParams) -> list[Signal]:
    out: list[Signal] = []
    if ep.segment_speech_ms > 0 and ep.speech_ms >= p.min_utterance_ms:
        out.append(_cut(ep, p))
    out.append(Endpoint(reason, ep.speech_ms, ep.utterance_ms))
    _reset(ep)
    return out


def _reset(ep: Endpointer) -> None:
    ep.active = False
    ep.onset_ms = 0.0
    ep.preroll = b""
    ep.segment = b""
    ep.segment_ms = ep.segment_speech_ms = ep.silence_ms = 0.0
    ep.speech_ms = ep.utterance_ms = 0.0
