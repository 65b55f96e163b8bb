"""Every NATS subject, stream, bucket and header name Parley uses, in one place.

Operators read these with the ``nats`` CLI (see ``docs/operating.md``)::

    interview.session.<sid>.in       edge -> session actor, client events (core NATS request)
    interview.session.<sid>.out      session actor -> edge, client events (JetStream, OUT)
    interview.session.<sid>.audio    session actor -> edge, TTS audio frames (core NATS)
    interview.session.<sid>.result   model actors -> session actor, job results (JetStream)
    interview.jobs.<kind>            work queue per model kind (JetStream, JOBS)
    interview.activate               edge -> any session node (queue group): activate a session
"""

from __future__ import annotations

__all__ = [
    "ACTIVATE",
    "ALL_JOBS",
    "ALL_SESSION_AUDIO",
    "ALL_SESSION_IN",
    "ALL_SESSION_OUT",
    "ALL_SESSION_RESULTS",
    "HDR_AUDIO",
    "HDR_DEADLINE",
    "HDR_IN_ID",
    "HDR_JOB_KIND",
    "HDR_MSG_ID",
    "HDR_REPLY_TO",
    "JOB_KINDS",
    "KV_OWNERS",
    "OBJ_AUDIO",
    "OBJ_REPLAY",
    "SESSION_NODES_QUEUE",
    "STREAM_JOBS",
    "STREAM_OUT",
    "STREAM_RESULTS",
    "JobKind",
    "is_session_result",
    "job",
    "job_consumer",
    "session_audio",
    "session_in",
    "session_out",
    "session_result",
    "valid_session_id",
]

import re
from typing import Literal, get_args

#: the work queues, one per job kind; "assess" is served by the LLM actors at lower
#: priority than live "llm" work
JobKind = Literal["stt", "llm", "tts", "embed", "assess"]
JOB_KINDS: tuple[JobKind, ...] = get_args(JobKind)

STREAM_JOBS = "JOBS"
STREAM_RESULTS = "RESULTS"
STREAM_OUT = "OUT"
KV_OWNERS = "session_owners"
OBJ_AUDIO = "audio"
#: each spoken answer's audio, ``<session id>.<turn>``, for replay from the report
OBJ_REPLAY = "answer_audio"

ACTIVATE = "interview.activate"
#: the candidate deletes an interview: edge -> session nodes (queue group), see bus.activation
DELETE = "interview.delete"
SESSION_NODES_QUEUE = "session-nodes"

HDR_MSG_ID = "Nats-Msg-Id"
HDR_REPLY_TO = "Parley-Reply-To"
HDR_DEADLINE = "Parley-Deadline"
HDR_JOB_KIND = "Parley-Job-Kind"
#: on ``.in`` requests that change a session (start, answer, end): an id the edge keeps
#: when it re-sends after a timeout, so the owner takes the event once.
HDR_IN_ID = "Parley-In-Id"
#: on ``.in`` messages that carry client audio (PCM16LE, no header) instead of an event
HDR_AUDIO = "Parley-Audio"

#: wildcard patterns over every session / every job kind (streams, permissions)
ALL_SESSION_IN = "interview.session.*.in"
ALL_SESSION_OUT = "interview.session.*.out"
ALL_SESSION_AUDIO = "interview.session.*.audio"
ALL_SESSION_RESULTS = "interview.session.*.result"
ALL_JOBS = "interview.jobs.*"

_SID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_RESULT = re.compile(r"^interview\.session\.[A-Za-z0-9_-]{8,64}\.result$")


def valid_session_id(sid: str) -> bool:
    """True when ``sid`` is safe to embed in a subject (no dots, wildcards or spaces)."""
    return bool(_SID.match(sid))


def is_session_result(subject: str) -> bool:
    """True when ``subject`` is one session's result subject (a job's only valid reply)."""
    return bool(_RESULT.match(subject))


def _check(sid: str) -> str:
    if not valid_session_id(sid):
        raise ValueError(f"invalid session id {sid!r}")
    return sid


def session_in(sid: str) -> str:
    return f"interview.session.{_check(sid)}.in"


def session_out(sid: str) -> str:
    return f"interview.session.{_check(sid)}.out"


def session_audio(sid: str) -> str:
    return f"interview.session.{_check(sid)}.audio"


def session_result(sid: str) -> str:
    return f"interview.session.{_check(sid)}.result"


def job(kind: str) -> str:
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    return f"interview.jobs.{kind}"


def job_consumer(kind: str) -> str:
    """Durable pull consumer shared by every worker of ``kind``."""
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    return f"workers-{kind}"
