"""What the shell feeds into :meth:`SessionCore.handle`.

Every input carries ``now``: seconds of the shell's monotonic clock when the input was
taken. The core never reads a clock itself. Pass inputs in the order they happened, and
call ``handle(Tick(now))`` about every 100 ms even when nothing else happens: deadlines,
heartbeats, playback ends and idle timeouts are noticed on the next input.

Inputs are tagged structs, so a recorded session can be replayed from msgpack/JSON.
"""

from __future__ import annotations

__all__ = ["ClientInput", "Input", "JobResultIn", "Tick", "TurnVerdict", "VoiceActivity"]

import msgspec

from bus.events import ClientEvent
from bus.jobs import Result


class ClientInput(msgspec.Struct, frozen=True, tag="client"):
    """A client event from ``.in`` (``Start``, ``AnswerText``, ``End``, ``Pong``) or from the
    edge (``Attach``, ``Detach``). ``Hello`` is answered by the edge and is ignored here."""

    event: ClientEvent
    now: float


class VoiceActivity(msgspec.Struct, frozen=True, tag="vad"):
    """Audio returned by :meth:`SessionCore.audio_to_analyze`, with the VAD's speech
    probability (0..1) for each 512-sample frame, in order: pass what the detector returned,
    the core decides what counts as speech (``CoreConfig.speech_probability``).
    ``len(pcm)`` should be ``1024 * len(probs)``; extra bytes or probabilities are ignored
    and counted."""

    pcm: bytes
    probs: list[float]
    now: float


class JobResultIn(msgspec.Struct, frozen=True, tag="result"):
    """One message from the session's result stream. Results for unknown or expired job
    ids are ignored (and counted), so redelivery is harmless."""

    result: Result
    now: float


class Tick(msgspec.Struct, frozen=True, tag="tick"):
    """Time passes. Call about every 100 ms."""

    now: float


class TurnVerdict(msgspec.Struct, frozen=True, tag="turn"):
    """The end-of-turn model's answer to :class:`~actors.session.commands.CheckTurn`
    ``check``: the probability (0..1) that the candidate finished. The core decides."""

    check: int
    probability: float
    now: float


Input = ClientInput | VoiceActivity | JobResultIn | Tick | TurnVerdict
