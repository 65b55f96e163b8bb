"""What :meth:`SessionCore.handle` returns: commands for the shell to execute, in order.

- :class:`Emit` — publish ``event`` to the client (``.out``); its ``seq`` is already set.
- :class:`EmitAudio` — send one TTS chunk to the client as a binary frame (``.audio``).
- :class:`RequestJob` — publish ``job`` to ``interview.jobs.<kind>`` with ``job.job_id``
  as ``Nats-Msg-Id``. ``deadline`` is in the shell's ``now`` clock: turn it into a
  relative timeout (``deadline - now``) before it leaves the process. The core enforces
  it itself; the shell needs it only to bound retries.
- :class:`PersistTurn` — upsert ``record`` keyed by ``(session_id, turn)``.
- :class:`PersistReport` — store the final report.
- :class:`Snapshot` — write ``core.snapshot()`` (fenced by the lease revision).
- :class:`Deactivate` — snapshot was just requested; stop the actor, drop the core.
- :class:`CheckTurn` — run the end-of-turn model on the candidate's latest audio, off the
  event loop, and feed the answer back as :class:`~actors.session.inputs.TurnVerdict`.
  A shell without a model ignores it (the silence fallback then ends the turn).

Order matters: at most one ``Snapshot`` per call, after every other command but a
``Deactivate``, so the state it persists never refers to a job not yet published.
"""

from __future__ import annotations

__all__ = [
    "CheckTurn",
    "Command",
    "Deactivate",
    "Emit",
    "EmitAudio",
    "PersistReport",
    "PersistTurn",
    "RequestJob",
    "Snapshot",
    "TurnRecord",
]

from typing import Any

import msgspec

from actors.session.state import TurnRecord
from bus.events import ServerEvent
from bus.jobs import Job
from bus.subjects import JobKind


class Emit(msgspec.Struct, frozen=True, tag="emit"):
    event: ServerEvent


class EmitAudio(msgspec.Struct, frozen=True, tag="emit_audio"):
    """``chunk`` counts from 0 within ``turn``; the client plays chunks in order."""

    turn: int
    chunk: int
    sample_rate: int
    pcm: bytes


class RequestJob(msgspec.Struct, frozen=True, tag="request_job"):
    """``kind`` names the work queue (``interview.jobs.<kind>``)."""

    job: Job
    kind: JobKind
    deadline: float


class PersistTurn(msgspec.Struct, frozen=True, tag="persist_turn"):
    record: TurnRecord


class PersistReport(msgspec.Struct, frozen=True, tag="persist_report"):
    report: dict[str, Any]


class Snapshot(msgspec.Struct, frozen=True, tag="snapshot"):
    """``reason`` is for logs and metrics: turn, periodic, pause, finished, deactivate,
    asked (a question went out: a point to resume from)."""

    reason: str = ""


class Deactivate(msgspec.Struct, frozen=True, tag="deactivate"):
    """``reason``: ``idle`` (no client for ``idle_timeout_s``) or ``finished``."""

    reason: str


class CheckTurn(msgspec.Struct, frozen=True, tag="check_turn"):
    """Ask the end-of-turn model whether the candidate has finished.

    The audio to judge is the last ``audio_ms`` of the audio the shell has run VAD on,
    *excluding* its last ``skip_ms`` (frames of the same VAD batch that came after the
    pause point). The model uses at most the last 8 s. Answer with
    ``TurnVerdict(check=check, probability=..., now=...)``; a late answer is harmless.
    """

    check: int
    audio_ms: float
    skip_ms: float = 0.0


Command = (
    Emit | EmitAudio | RequestJob | PersistTurn | PersistReport | Snapshot | Deactivate | CheckTurn
)
