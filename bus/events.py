"""Client-facing session events: what travels on ``.in`` (client -> session actor) and
``.out`` (session actor -> client), and over the browser WebSocket as JSON text frames.

Every message is a tagged msgspec ``Struct`` (``{"type": "...", ...}``). Decode with the
module-level decoders, created once: :func:`decode_client_event` and
:func:`decode_server_event` raise :class:`bus.errors.BadMessage` with a clear reason on
malformed JSON, an unknown ``type`` or a wrong field.

Audio never travels here: it is binary (see ``docs/protocol.md``).
"""

from __future__ import annotations

__all__ = [
    "AnswerText",
    "Attach",
    "ClientEvent",
    "Detach",
    "End",
    "Error",
    "ErrorCode",
    "Hello",
    "Ping",
    "Pong",
    "Probe",
    "Question",
    "Ready",
    "Report",
    "ServerEvent",
    "Speaking",
    "Start",
    "State",
    "StopAudio",
    "Transcript",
    "Warming",
    "decode_client_event",
    "decode_error",
    "decode_server_event",
    "encode",
]

from typing import Annotated, Any, Literal

import msgspec

from bus.errors import BadMessage

Language = Literal["en", "ko"]
Difficulty = Literal["junior", "mid", "senior"]
Role = Literal["backend", "frontend", "data", "data_engineer", "ml_engineer", "product", "general"]

MAX_TEXT = 4000
MAX_DOC = 20000

ShortText = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
DocText = Annotated[str, msgspec.Meta(max_length=MAX_DOC)]
SessionId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Seq = Annotated[int, msgspec.Meta(ge=0)]


class _Base(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, frozen=True):
    pass


# --- client -> server -------------------------------------------------------------------


class Hello(_Base, tag="hello", frozen=True):
    """First frame of a connection. Without ``session_id`` a new session is created; with it
    (and its ``token``) the connection resumes it, replaying events after ``last_seq``."""

    session_id: SessionId | None = None
    token: Annotated[str, msgspec.Meta(max_length=512)] | None = None
    last_seq: Seq = 0


class Start(_Base, tag="start", frozen=True):
    role: Role = "general"
    language: Language = "en"
    difficulty: Difficulty = "mid"
    questions: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    resume_text: DocText = ""
    job_posting: DocText = ""
    #: "practise this question again": asked as the first main question, as written
    practise: Annotated[str, msgspec.Meta(max_length=600)] = ""


class AnswerText(_Base, tag="answer_text", frozen=True):
    """A typed answer, used instead of speech."""

    text: ShortText


class End(_Base, tag="end", frozen=True):
    """The candidate ends the interview early; the report is still produced."""


class Pong(_Base, tag="pong", frozen=True):
    id: int


class Attach(_Base, tag="attach", frozen=True):
    """Sent by the edge (never by a browser) when a client connects to the session."""

    last_seq: Seq = 0


class Detach(_Base, tag="detach", frozen=True):
    """Sent by the edge (never by a browser) when the client's socket closes."""


class Probe(_Base, tag="probe", frozen=True):
    """Sent by the edge (never by a browser) to a silent session: the owning actor answers
    ``ok`` without feeding its core; "no responders" means the owner is gone."""


ClientEvent = Hello | Start | AnswerText | End | Pong | Attach | Detach | Probe

# --- server -> client -------------------------------------------------------------------


class Ready(_Base, tag="ready", frozen=True):
    session_id: str
    token: str = ""
    resumed: bool = False
    seq: int = 0


class State(_Base, tag="state", frozen=True):
    """Interview phase: idle, greeting, asking, listening, thinking, closing, reporting,
    finished."""

    state: str
    seq: int = 0


QuestionKind = Literal["greeting", "main", "followup", "closing", "repeat"]


class Question(_Base, tag="question", frozen=True):
    turn: int
    text: str
    kind: QuestionKind = "main"
    index: int = 0
    total: int = 0
    seq: int = 0


class Transcript(_Base, tag="transcript", frozen=True):
    turn: int
    text: str
    final: bool = False
    seq: int = 0


class Speaking(_Base, tag="speaking", frozen=True):
    """Interviewer audio for ``turn`` follows as binary frames."""

    turn: int
    seq: int = 0


class StopAudio(_Base, tag="stop_audio", frozen=True):
    """Stop playback now (barge-in or the turn was superseded)."""

    turn: int
    seq: int = 0


class Report(_Base, tag="report", frozen=True):
    report: dict[str, Any]
    seq: int = 0


class Warming(_Base, tag="warming", frozen=True):
    """Sent by the edge (connection-level, ``seq`` 0) when model roles are not ready, and
    again when that changes: ``roles`` maps each such role (``llm``, ``stt``, ``tts``,
    ``embed``) to the seconds until it should be ready (None: unknown, e.g. down). An
    empty ``roles`` says every model role is ready again."""

    roles: dict[str, float | None]
    seq: int = 0


class Ping(_Base, tag="ping", frozen=True):
    id: int
    seq: int = 0


ErrorCode = Literal[
    "bad_json",
    "bad_message",
    "not_started",
    "already_started",
    "not_listening",
    "empty_answer",
    "bad_token",
    "unknown_session",
    "rate_limited",
    "busy",
    "start_timeout",
    "idle_timeout",
    "unavailable",
]
"""Every ``error`` code a client can see; docs/protocol.md's "Errors" table lists exactly
these (tests/test_protocol_doc.py checks it)."""


class Error(_Base, tag="error", frozen=True):
    code: ErrorCode
    message: str
    seq: int = 0


def decode_error(exc: BadMessage) -> Error:
    """The ``error`` event for a client message that could not be decoded."""
    return Error(code="bad_json" if exc.code == "bad_json" else "bad_message", message=exc.reason)


ServerEvent = (
    Ready | State | Question | Transcript | Speaking | StopAudio | Report | Warming | Ping | Error
)

_client_decoder = msgspec.json.Decoder(ClientEvent)
_server_decoder = msgspec.json.Decoder(ServerEvent)
_encoder = msgspec.json.Encoder()


def decode_client_event(data: bytes | str) -> ClientEvent:
    """Decode one client event; raise :class:`BadMessage` (code ``bad_json`` or
    ``bad_message``) with a readable reason otherwise. Nothing else is raised, whatever
    ``data`` is (a ``str`` with lone surrogates cannot be UTF-8 and is ``bad_json``)."""
    try:
        event: ClientEvent = _client_decoder.decode(data)
        return event
    except msgspec.ValidationError as exc:
        raise BadMessage("bad_message", str(exc)) from None
    except (msgspec.DecodeError, UnicodeError, TypeError) as exc:
        raise BadMessage("bad_json", str(exc)) from None


def decode_server_event(data: bytes | str) -> ServerEvent:
    try:
        event: ServerEvent = _server_decoder.decode(data)
        return event
    except msgspec.ValidationError as exc:
        raise BadMessage("bad_message", str(exc)) from None
    except (msgspec.DecodeError, UnicodeError, TypeError) as exc:
        raise BadMessage("bad_json", str(exc)) from None


def encode(event: msgspec.Struct) -> bytes:
    return _encoder.encode(event)
