"""The sans-I/O session core: a pure state machine fed inputs, returning commands.

Modelled on websockets' ``Protocol``: no asyncio, no NATS, no clock, no randomness. The
shell around it does all I/O::

    core = SessionCore.new(session_id, config, bank, phrases)      # or .restore(...)
    core.receive_audio(pcm, now)            # every binary frame from the client
    pcm = core.audio_to_analyze()           # run VAD on it off the event loop, then
    cmds = core.handle(VoiceActivity(pcm, probs, now))
    cmds = core.handle(ClientInput(event, now))      # Start, AnswerText, End, Pong, ...
    cmds = core.handle(JobResultIn(result, now))     # every message on .result
    cmds = core.handle(Tick(now))                    # about every 100 ms
    cmds = core.handle(TurnVerdict(check, p, now))   # answer to a CheckTurn command

After each ``handle()`` call, execute every returned command, in order (see
:mod:`actors.session.commands`). ``Snapshot`` means: persist ``core.snapshot()`` now.
After ``Deactivate``, drop the core; activate it again later with :meth:`restore`.
"""

from __future__ import annotations

__all__ = ["SessionCore"]

import math
from collections.abc import Sequence
from typing import assert_never

import msgspec

from actors.session import flow, listening, liveness, questions, routing, speech
from actors.session.bank import BankQuestionLike
from actors.session.commands import Command
from actors.session.config import CoreConfig
from actors.session.ctx import Ctx
from actors.session.inputs import (
    ClientInput,
    Input,
    JobResultIn,
    Tick,
    TurnVerdict,
    VoiceActivity,
)
from actors.session.phrases import PhraseSource
from actors.session.state import Counters, Phase, SessionState
from bus.events import AnswerText, Attach, ClientEvent, Detach, End, Hello, Pong, Probe, Start
from bus.subjects import valid_session_id

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SessionState)
_MAX_PASSES = 32


class SessionCore:
    """One interview session's logic. Not thread-safe: feed it from one task."""

    def __init__(
        self,
        state: SessionState,
        config: CoreConfig,
        bank: Sequence[BankQuestionLike],
        phrases: PhraseSource,
    ) -> None:
        """Use :meth:`new` or :meth:`restore`."""
        self._ctx = Ctx(state, config, bank, phrases)

    @classmethod
    def new(
        cls,
        session_id: str,
        config: CoreConfig,
        bank: Sequence[BankQuestionLike],
        phrases: PhraseSource,
    ) -> SessionCore:
        """A fresh session in phase ``idle``, waiting for ``Attach`` and ``Start``."""
        if not valid_session_id(session_id):
            raise ValueError(f"invalid session id {session_id!r}")
        return cls(SessionState(session_id=session_id), config, bank, phrases)

    @classmethod
    def restore(
        cls,
        data: bytes,
        config: CoreConfig,
        bank: Sequence[BankQuestionLike],
        phrases: PhraseSource,
        *,
        now: float | None = None,
    ) -> SessionCore:
        """Rebuild a core from :meth:`snapshot` bytes.

        Pass ``now`` when the snapshot came from another process (after a failover or a
        re-activation): it re-bases the core clock on this process's monotonic clock, so
        deadlines keep their remaining time. Then call :meth:`set_seq_floor` with the last
        seq that reached the OUT stream. Results of jobs that were live keep arriving on
        the result stream; any that never come hit their deadline and fall back.
        """
        state = _decoder.decode(data)
        if now is not None:
            state.last_now = now
        return cls(state, config, bank, phrases)

    # --- observation ----------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The live state (read it, do not change it)."""
        return self._ctx.st

    @property
    def session_id(self) -> str:
        return self._ctx.st.session_id

    @property
    def phase(self) -> Phase:
        return self._ctx.st.phase

    @property
    def status(self) -> str:
        """``finished`` once the report is out, else ``active`` (the sessions row). The
        report may go out while the closing words still play."""
        st = self._ctx.st
        return "finished" if st.phase == "finished" or st.report_sent else "active"

    @property
    def language(self) -> str:
        s = self._ctx.st.settings
        return s.language if s is not None else ""

    @property
    def role(self) -> str:
        s = self._ctx.st.settings
        return s.role if s is not None else ""

    @property
    def seq(self) -> int:
        """The seq of the last event emitted."""
        return self._ctx.st.seq

    def expects(self, job_id: str) -> bool:
        """True while ``job_id`` is live (its results will be used)."""
        return job_id in self._ctx.st.jobs

    @property
    def counters(self) -> Counters:
        return self._ctx.st.counters

    @property
    def audio_dropped_ms(self) -> int:
        return self._ctx.st.counters.audio_dropped_ms

    @property
    def audio_queued_ms(self) -> float:
        return len(self._ctx.st.audio) / self._ctx.cfg.bytes_per_ms

    def live_jobs(self) -> list[str]:
        """Ids of the jobs the core is waiting for."""
        return list(self._ctx.st.jobs)

    def next_tick(self) -> float | None:
        """When the core next needs a ``Tick``, in the shell's ``now`` clock.

        ``None``: the interview is under way (or a job, audio or speech is in flight), so
        tick about every 100 ms. A number: the session is quiet (not started, or
        finished) and nothing can happen before that time unless another input arrives:
        the next heartbeat, or the idle deactivation. ``math.inf``: never (deactivated).
        Any input may change the answer: ask again after each ``handle``.
        """
        ctx = self._ctx
        st = ctx.st
        if st.phase not in ("idle", "finished") or st.jobs or st.air is not None or st.audio:
            return None
        live, cfg = st.live, ctx.cfg
        if live.deactivated:
            return math.inf
        due = math.inf
        if live.attached:
            due = live.next_ping_at
        elif live.detached_at is not None:
            due = live.detached_at + cfg.idle_timeout_s
        if st.phase == "finished" and live.finished_at is not None:
            due = min(due, live.finished_at + cfg.idle_timeout_s)
            if not live.attached and live.detached_at is not None:
                due = min(due, max(live.detached_at, live.finished_at) + cfg.finished_detached_s)
        return ctx.shell_time(due) if due != math.inf else math.inf

    def snapshot(self) -> bytes:
        """The whole state as msgpack; :meth:`restore` gives back an equal state."""
        return _encoder.encode(self._ctx.st)

    def set_seq_floor(self, seq: int) -> None:
        """After a failover: the next emitted event gets a seq above ``seq``."""
        st = self._ctx.st
        st.seq = max(st.seq, seq)

    # --- audio ----------------------------------------------------------------------

    def receive_audio(self, pcm: bytes, now: float) -> None:
        """Queue client audio (PCM16LE mono at ``config.sample_rate``). The queue holds at
        most ``audio_queue_ms``; overflow drops the oldest audio, counted in
        ``audio_dropped_ms``. Then call :meth:`audio_to_analyze`."""
        ctx = self._ctx
        ctx.advance(now)
        st, cfg = ctx.st, ctx.cfg
        st.audio += pcm[: len(pcm) & ~1]
        unit = max(2, int(cfg.bytes_per_ms) & ~1)  # one millisecond, whole samples
        cap = cfg.audio_queue_ms * unit
        if len(st.audio) > cap:
            excess = len(st.audio) - cap
            drop = -(-excess // unit) * unit
            st.audio = st.audio[drop:]
            st.counters.audio_dropped_ms += drop // unit

    def audio_to_analyze(self) -> bytes:
        """Drain the queue in whole VAD frames (512 samples); the remainder stays queued.
        Run VAD on the result (off the event loop), then ``handle(VoiceActivity(...))``."""
        st, fb = self._ctx.st, self._ctx.cfg.frame_bytes
        n = len(st.audio) // fb * fb
        out, st.audio = st.audio[:n], st.audio[n:]
        return out

    # --- inputs ---------------------------------------------------------------------

    def handle(self, inp: Input) -> list[Command]:
        """Process one input; return the commands to execute, in order."""
        ctx = self._ctx
        ctx.advance(inp.now)
        if ctx.st.live.deactivated and not _reactivates(inp):
            return []
        match inp:
            case ClientInput():
                self._client(inp.event)
            case VoiceActivity():
                flow.on_outcome(ctx, listening.on_voice(ctx, inp))
            case JobResultIn():
                routing.on_result(ctx, inp.result)
            case Tick():
                flow.on_outcome(ctx, listening.tick(ctx))
            case TurnVerdict():
                flow.on_outcome(ctx, listening.on_verdict(ctx, inp))
            case _:
                assert_never(inp)
        self._pump()
        return ctx.take()

    def _client(self, ev: ClientEvent) -> None:
        ctx = self._ctx
        match ev:
            case Start():
                flow.start(ctx, ev)
            case AnswerText():
                flow.answer_text(ctx, ev.text)
            case End():
                flow.end(ctx)
            case Pong():
                liveness.on_pong(ctx, ev.id)
            case Attach():
                liveness.on_attach(ctx)
            case Detach():
                liveness.on_detach(ctx)
            case Hello() | Probe():
                pass  # the edge's business
            case _:
                assert_never(ev)

    def _pump(self) -> None:
        """Run every level-triggered step until nothing more happens."""
        ctx = self._ctx
        for _ in range(_MAX_PASSES):
            mark = len(ctx.out)
            routing.expire(ctx)
            speech.pump(ctx)
            progressed = flow.advance(ctx)
            questions.prefetch(ctx)
            if not progressed and len(ctx.out) == mark:
                break
        liveness.tick(ctx)


def _reactivates(inp: Input) -> bool:
    return isinstance(inp, ClientInput) and isinstance(inp.event, Attach)
