"""One browser connection's state and every decision about it, sans I/O.

A :class:`Link` is fed what happens on one WebSocket connection and returns what to do
about it as actions; it never awaits, reads a clock, or touches a socket or the bus. The
gateway (:mod:`edge.gateway`) is its thin async shell: it passes ``now`` (monotonic
seconds) with every input and carries out the returned actions in order.

Inputs, in the order a connection sees them:

- :meth:`Link.frame` for **every** WebSocket frame as it is parsed, control frames
  included (ping, pong, close, continuation), before anything else looks at it. One
  budget counts them all; when it runs out (sustained excess past its burst) the answer
  is :class:`Close` 1008 and the shell must stop reading at once.
- :meth:`Link.first` with the first message (or None when none came in time): the
  ``hello``, or the refusal.
- :meth:`Link.opened` once the session is created or resumed (the shell checked the
  token and reached the session's node).
- :meth:`Link.message` with every later message (text or binary).
- :meth:`Link.answered` with the session's reply to a forwarded event.
- :meth:`Link.event` with every event the session publishes for the client: whether to
  deliver it (resume deduplication by ``seq``).
- :meth:`Link.tick` at :meth:`Link.next_tick`: the start deadline and the idle timeout.

Actions: :class:`Forward` (a client event to the session, as a request), :class:`ForwardAudio`
(audio to the session), :class:`Reply` (an ``error`` event to the client), :class:`Close`,
:class:`Count` (a metric). What reaches the bus: only decoded, cleaned client events the
browser may send, and only binary frames that carry audio (an even, non-zero number of
bytes within the audio rate).
"""

from __future__ import annotations

__all__ = [
    "Action",
    "Close",
    "Count",
    "Forward",
    "ForwardAudio",
    "FrameKind",
    "Link",
    "Phase",
    "Reply",
]

import enum
from dataclasses import dataclass

import msgspec

from bus import events
from bus.errors import BadMessage
from edge.limits import Limits, TokenBucket
from edge.sanitize import clean_event

CLOSE_POLICY = 1008


class FrameKind(enum.Enum):
    TEXT = "text"
    BINARY = "binary"
    CONT = "cont"
    PING = "ping"
    PONG = "pong"
    CLOSE = "close"


class Phase(enum.Enum):
    HELLO = "hello"  # waiting for the first message
    OPEN = "open"  # a session is attached
    CLOSING = "closing"  # a Close was decided: nothing more is taken


@dataclass(frozen=True, slots=True)
class Forward:
    """Send ``event`` to the session as a request (with ``in_id`` as its dedup header
    when set) and feed the reply to :meth:`Link.answered`."""

    event: events.ClientEvent
    in_id: str = ""


@dataclass(frozen=True, slots=True)
class ForwardAudio:
    """Publish ``pcm`` (PCM16LE, even and non-empty) to the session."""

    pcm: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """Send this ``error`` event to the client."""

    error: events.Error


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection with ``code`` after sending ``error`` (when given); after it,
    the Link takes nothing more. ``abusive``: do not wait for the client (stop reading,
    send what the socket takes, cut the TCP connection soon after)."""

    code: int
    reason: str
    error: events.Error | None = None
    abusive: bool = False


@dataclass(frozen=True, slots=True)
class Count:
    """Add ``amount`` to the edge metric ``metric``."""

    metric: str
    amount: int = 1


Action = Forward | ForwardAudio | Reply | Close | Count


class _Head(msgspec.Struct):
    """What the edge reads of an event on its way to the client."""

    type: str = ""
    seq: int = 0


_head = msgspec.json.Decoder(_Head)
_EDGE_ONLY = (events.Hello, events.Attach, events.Detach, events.Probe)


class Link:
    """The state of one connection; see the module docstring for the inputs."""

    def __init__(self, limits: Limits, now: float, conn_id: str) -> None:
        self.limits = limits
        self.conn_id = conn_id
        self.phase = Phase.HELLO
        self.sid = ""
        self.last_seq = 0
        #: the session has taken a ``start`` (or this connection resumed it)
        self.started = False
        #: the report went out: nothing more to wait for (no owner probes)
        self.finished = False
        #: when the session last showed life (an event, a reply)
        self.last_heard = now
        #: when the client last sent interview input (audio, start, an answer, end)
        self.last_input = now
        self.start_deadline: float | None = None
        self.frames = TokenBucket(limits.frames_per_s, limits.frame_burst, now)
        self.messages = TokenBucket(limits.messages_per_s, limits.message_burst, now)
        self.audio = TokenBucket(limits.audio_bytes_per_s, limits.audio_burst_bytes, now)
        self.violations = TokenBucket(limits.violations_per_s, limits.violation_burst, now)
        self.errors = TokenBucket(limits.errors_per_s, limits.error_burst, now)
        self._sent_in = 0

    # --- every frame ---------------------------------------------------------------------

    def frame(self, kind: FrameKind, size: int, now: float) -> list[Action]:
        """Count one WebSocket frame of any kind against the connection's budget."""
        if self.phase is Phase.CLOSING:
            return []
        if self.frames.take(1.0, now):
            return []
        return self._close_abusive("too many frames", "ws_frame_budget_exceeded_total")

    # --- hello -----------------------------------------------------------------------------

    def first(self, frame: str | bytes | None) -> events.Hello | list[Action]:
        """The ``hello`` in the first message, or what to do instead (an error and a
        close). ``None``: nothing came within ``hello_timeout_s``."""
        if frame is None:
            return self._refuse("bad_message", "send hello first", "no hello")
        if isinstance(frame, bytes):
            return self._refuse("not_started", "send hello before audio", "no hello")
        try:
            event = events.decode_client_event(frame)
        except BadMessage as exc:
            err = events.decode_error(exc)
            return self._refuse(err.code, err.message, exc.code)
        if not isinstance(event, events.Hello):
            return self._refuse("not_started", "the first message must be hello", "no hello")
        return event

    def opened(self, sid: str, now: float, *, resumed: bool, last_seq: int = 0) -> None:
        """The session ``sid`` is attached (created, or resumed after ``last_seq``). A new
        session must ``start`` within ``start_timeout_s``; a resumed one is taken as
        started (its node knows better, and evicts it if it never did)."""
        self.phase = Phase.OPEN
        self.sid = sid
        self.last_seq = last_seq
        self.started = resumed
        self.last_heard = self.last_input = now
        if not resumed and self.limits.start_timeout_s:
            self.start_deadline = now + self.limits.start_timeout_s

    def refused(
        self,
        code: events.ErrorCode,
        message: str,
        close: int | None,
        reason: str = "",
        *,
        abusive: bool = False,
    ) -> list[Action]:
        """The session could not be opened (or re-activated): tell the client, and close
        with ``close`` (and ``reason``, else the code) when it is given."""
        if close is None:
            return self._error(code, message)
        self.phase = Phase.CLOSING
        error = events.Error(code=code, message=message)
        return [
            Count(f'ws_errors_total{{code="{code}"}}'),
            Close(close, reason or code, error, abusive),
        ]

    # --- messages --------------------------------------------------------------------------

    def message(self, frame: str | bytes, now: float) -> list[Action]:
        """A message after the hello: what to forward, answer or count."""
        if self.phase is not Phase.OPEN:
            return []
        if isinstance(frame, bytes):
            return self._audio(frame, now)
        return self._text(frame, now)

    def _audio(self, frame: bytes, now: float) -> list[Action]:
        if not frame:
            return [
                Count("ws_audio_empty_total"),
                *self._error("bad_message", "empty audio frame", now),
                *self._violation("empty audio frames", now),
            ]
        if len(frame) % 2:
            return [
                *self._error("bad_message", "audio must be PCM16LE (even byte count)", now),
                *self._violation("malformed audio", now),
            ]
        if not self.audio.take(len(frame), now):
            return [
                Count("ws_audio_rate_limited_bytes_total", len(frame)),
                *self._violation("audio faster than real time", now),
            ]
        self.last_input = now
        return [Count("ws_audio_bytes_total", len(frame)), ForwardAudio(frame)]

    def _text(self, frame: str, now: float) -> list[Action]:
        if not self.messages.take(1.0, now):
            out: list[Action] = [Count("ws_rate_limited_total")]
            closing = self._violation("too many messages", now)
            return out + (
                closing or self._error("rate_limited", "too many messages; slow down", now)
            )
        try:
            event = clean_event(events.decode_client_event(frame))
        except BadMessage as exc:
            bad = events.decode_error(exc)
            return self._error(bad.code, bad.message, now) + self._violation(
                "malformed messages", now
            )
        if isinstance(event, _EDGE_ONLY):
            name = type(event).__name__.lower()
            return self._error("bad_message", f"{name} not allowed here", now) + self._violation(
                "messages not allowed here", now
            )
        in_id = ""
        if isinstance(event, events.Start | events.AnswerText | events.End):
            self._sent_in += 1
            in_id = f"{self.conn_id}:{self._sent_in}"
            self.last_input = now
        return [Forward(event, in_id)]

    def answered(
        self, event: events.ClientEvent, error: events.Error | None, now: float
    ) -> list[Action]:
        """The session's answer to a forwarded ``event``: None when it took it."""
        if self.phase is Phase.CLOSING:
            return []
        if error is None:
            self.last_heard = now
            if isinstance(event, events.Start):
                self.started = True
                self.start_deadline = None
            return []
        return self._error(error.code, error.message, now)

    # --- the session's events ---------------------------------------------------------------

    def event(self, data: bytes, now: float) -> bool:
        """Whether to deliver this event to the client (False: not an event, or one it
        already has)."""
        try:
            head = _head.decode(data)
        except msgspec.DecodeError:
            return False
        self.last_heard = now
        if head.seq <= self.last_seq:
            return False  # already delivered: no duplicate on resume
        self.last_seq = head.seq
        if head.type == "report":
            self.finished = True
        return True

    def heard(self, now: float) -> None:
        """The session showed life (it answered a probe, or took a re-sent attach)."""
        self.last_heard = now

    def quiet_for(self, now: float) -> float:
        return now - self.last_heard

    # --- time --------------------------------------------------------------------------------

    def next_tick(self) -> float | None:
        """When :meth:`tick` has something to decide next (None: nothing pending)."""
        if self.phase is not Phase.OPEN:
            return None
        if not self.started:
            return self.start_deadline
        if self.limits.idle_timeout_s:
            return self.last_input + self.limits.idle_timeout_s
        return None

    def tick(self, now: float) -> list[Action]:
        """The deadlines: a new session that never started, a started one that went
        silent (no audio, no answer, no end for ``idle_timeout_s``)."""
        if self.phase is not Phase.OPEN:
            return []
        if not self.started:
            if self.start_deadline is not None and now >= self.start_deadline:
                return [
                    Count("ws_start_timeout_total"),
                    *self.refused(
                        "start_timeout", "the interview was not started in time", CLOSE_POLICY
                    ),
                ]
            return []
        idle = self.limits.idle_timeout_s
        if idle and now - self.last_input >= idle:
            return [
                Count("ws_idle_timeout_total"),
                *self.refused(
                    "idle_timeout",
                    f"nothing was said or typed for {idle:.0f} s; resume to continue",
                    CLOSE_POLICY,
                ),
            ]
        return []

    # --- shared ------------------------------------------------------------------------------

    def _error(
        self, code: events.ErrorCode, message: str, now: float | None = None
    ) -> list[Action]:
        """An ``error`` event unless this connection had too many lately (then only
        counted). Without ``now``: always (one that goes with a close)."""
        if now is not None and not self.errors.take(1.0, now):
            return [Count("ws_errors_suppressed_total")]
        return [
            Count(f'ws_errors_total{{code="{code}"}}'),
            Reply(events.Error(code=code, message=message)),
        ]

    def _violation(self, reason: str, now: float) -> list[Action]:
        """Count a refused message or frame; past the sustained limit, close 1008."""
        if self.violations.take(1.0, now):
            return []
        return self._close_abusive(reason, None)

    def _close_abusive(self, reason: str, metric: str | None) -> list[Action]:
        self.phase = Phase.CLOSING
        out: list[Action] = [Count("ws_closed_for_abuse_total")]
        if metric:
            out.append(Count(metric))
        return out + self.refused(
            "rate_limited", f"{reason}; closing", CLOSE_POLICY, "rate limit", abusive=True
        )

    def _refuse(self, code: events.ErrorCode, message: str, reason: str) -> list[Action]:
        return self.refused(code, message, CLOSE_POLICY, reason)
