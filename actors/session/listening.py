"""The candidate's side: VAD frames to segments, segments to STT jobs, STT results to a
final transcript, and barge-in.

Returns an :data:`Outcome` when an answer is settled; the flow decides what follows:

- :class:`Final` — the transcript of the answer (emit it, acknowledge, move on).
- :class:`Repeat` — too much of the speech could not be transcribed: ask again.
- :class:`Nothing` — STT heard no words (noise): listen again, silently.

While the final segment is still being transcribed the phase is ``thinking``; if the
candidate starts speaking again in that window, the same answer continues.

End of turn: at a pause (``turn_check_ms`` of silence, then every ``turn_recheck_ms``) a
``CheckTurn`` asks the shell's end-of-turn model, and the words of the open segment are
cut and sent to STT at the same moment. The turn ends as soon as the model says finished
AND everything said is transcribed and ends like a finished sentence (the transcript is
then ready when the turn ends). When they disagree, the silence decides: the ordinary
``endpoint_silence_ms`` if the words end a sentence, else the long ``turn_fallback_ms``
(with ``turn_trust_unfinished``, the long one whenever the model says unfinished).
Neither alone ends the turn early: on synthetic speech the model alone calls many
mid-sentence pauses finished (``parley bench e2e --replay``). Without any verdict (no
model, or a slow one) the silence rules of :mod:`actors.session.endpointing` decide as
before. After the answer is settled the candidate's voice is still tracked
(``talking_at``) so the acknowledgment is not played over them.
"""

from __future__ import annotations

__all__ = [
    "Final",
    "Nothing",
    "Outcome",
    "Repeat",
    "abort",
    "begin",
    "on_stt",
    "on_verdict",
    "on_voice",
    "tick",
]

from typing import Literal

import msgspec

from actors.interview.text import truncate
from actors.session import prefill, speech
from actors.session.commands import CheckTurn
from actors.session.ctx import Ctx
from actors.session.delivery import PAUSE_S, Timing
from actors.session.endpointing import (
    Endpoint,
    EndpointParams,
    Onset,
    SegmentCut,
    Signal,
    cut_now,
    end_turn,
    feed,
    flush,
)
from actors.session.inputs import TurnVerdict, VoiceActivity
from actors.session.state import Listen, Segment
from actors.session.text import join_texts, looks_complete, trim_left
from bus.events import Transcript
from bus.jobs import Result, SttJob, SttResult


class Final(msgspec.Struct, frozen=True):
    text: str
    latency: dict[str, float]
    last_speech_at: float | None = None
    timing: Timing | None = None


class Repeat(msgspec.Struct, frozen=True):
    pass


class Nothing(msgspec.Struct, frozen=True):
    pass


Outcome = Final | Repeat | Nothing
Mode = Literal["listen", "barge", "resume"]


def begin(ctx: Ctx, turn: int) -> None:
    """Start listening for an answer to ``turn``. Speech that began while the question
    was still playing (below the barge-in threshold) is kept."""
    old = ctx.st.listen
    ep = old.ep if not old.ep.active else Listen().ep
    same = old.turn == turn
    ctx.st.listen = Listen(
        turn=turn,
        ep=ep,
        next_segment=old.next_segment if same else 0,
        opened_at=old.opened_at if same and old.opened_at else ctx.t,
    )


def abort(ctx: Ctx) -> None:
    """Drop the utterance in progress (typed answer, end): forget its STT jobs."""
    listen = ctx.st.listen
    for seg in listen.segments:
        ctx.cancel(seg.job)
    ctx.st.listen = Listen(turn=listen.turn, next_segment=listen.next_segment)


def _mode(ctx: Ctx) -> Mode | None:
    st = ctx.st
    if st.phase == "listening":
        return "listen"
    if st.phase == "asking" and st.air is not None and st.air.kind in speech.ANSWERABLE:
        return "barge"
    limit = ctx.cfg.max_utterance_s * 1000.0
    if st.phase == "thinking" and st.listen.awaiting_final and st.listen.used_ms < limit:
        return "resume"
    return None


def _params(ctx: Ctx, mode: Mode) -> EndpointParams:
    cfg, listen = ctx.cfg, ctx.st.listen
    short = (
        not listen.ep.segment_speech_ms
        and listen.segments
        and all(s.status != "pending" for s in listen.segments)
        and looks_complete(_text(listen), ctx.settings.language)
    )
    onset = cfg.barge_in_ms if mode == "barge" else cfg.speech_start_ms
    return EndpointParams(
        frame_ms=cfg.frame_ms,
        bytes_per_ms=cfg.bytes_per_ms,
        onset_ms=onset,
        preroll_bytes=int(
            (cfg.preroll_ms + max(cfg.barge_in_ms, cfg.speech_start_ms)) * cfg.bytes_per_ms
        )
        & ~1,
        segment_pause_ms=cfg.segment_pause_ms,
        min_segment_speech_ms=cfg.min_segment_speech_ms,
        max_segment_ms=cfg.max_segment_s * 1000.0,
        endpoint_ms=_endpoint_ms(ctx, bool(short)),
        max_utterance_ms=max(cfg.frame_ms, cfg.max_utterance_s * 1000.0 - listen.used_ms),
        min_utterance_ms=cfg.min_utterance_ms,
    )


def _endpoint_ms(ctx: Ctx, short: bool) -> float:
    cfg = ctx.cfg
    if ctx.st.listen.unfinished:  # the model heard more to come
        if short and not cfg.turn_trust_unfinished:
            return float(cfg.endpoint_silence_ms)
        return float(cfg.turn_fallback_ms)
    return float(cfg.endpoint_silence_short_ms if short else cfg.endpoint_silence_ms)


def on_voice(ctx: Ctx, vad: VoiceActivity) -> Outcome | None:
    """Feed VAD-labelled frames. Frames that do not matter in this phase are counted and
    dropped. Stops at the first settled answer (later frames are post-endpoint silence)."""
    cfg, st = ctx.cfg, ctx.st
    fb = cfg.frame_bytes
    flags = [p >= cfg.speech_probability for p in vad.probs]
    n = min(len(vad.pcm) // fb, len(flags))
    if n != len(flags) or len(vad.pcm) != n * fb:
        st.counters.vad_mismatch += 1
    for i in range(n):
        mode = _mode(ctx)
        overheard = i
        if mode == "barge":
            _overhear(ctx, flags[i : i + 1], n - 1 - i)
            overheard = i + 1
            if speech.holding(ctx):  # nothing heard yet: nothing to interrupt
                mode = None
        if mode is None:
            st.counters.frames_ignored += n - i
            if not st.listen.ep.active:  # no stale pre-roll or onset across a gap
                st.listen.ep.preroll, st.listen.ep.onset_ms = b"", 0.0
            _overhear(ctx, flags[overheard:n])
            return None
        frame_t = ctx.t - (n - 1 - i) * cfg.frame_ms / 1000.0
        st.listen.last_frame_at = ctx.t
        flag = flags[i]
        signals = feed(st.listen.ep, vad.pcm[i * fb : (i + 1) * fb], flag, _params(ctx, mode))
        if flag and (st.listen.ep.active or signals):
            _note_pause(st.listen, frame_t)
            st.listen.last_speech_at = frame_t
        outcome = _signals(ctx, mode, signals, frame_t)
        if outcome is not None:
            st.counters.frames_ignored += n - 1 - i
            return outcome
        if mode != "barge":
            _maybe_check(ctx, n - 1 - i)
            outcome = _agreed(ctx)  # a blip may have held up an agreed end
            if outcome is not None:
                st.counters.frames_ignored += n - 1 - i
                return outcome
    return None


def _note_pause(listen: Listen, frame_t: float) -> None:
    """Speech again after a silence longer than PAUSE_S inside the answer: remember it."""
    last, start = listen.last_speech_at, listen.started_at
    if (
        last is not None
        and start is not None
        and frame_t - last > PAUSE_S
        and len(listen.pauses) < 50
    ):
        listen.pauses.append((round(last - start, 3), round(frame_t - last, 3)))


def _overhear(ctx: Ctx, flags: list[bool], frames_after: int = 0) -> None:
    """Track the candidate's voice while not listening (the answer is settled): the
    acknowledgment waits while they talk (see :func:`speech.holding`). ``flags`` are the
    last frames of the batch but ``frames_after``."""
    cfg, listen = ctx.cfg, ctx.st.listen
    n = len(flags)
    for j, flag in enumerate(flags):
        if flag:
            listen.voice_run_ms += cfg.frame_ms
            if listen.voice_run_ms >= cfg.speech_start_ms:
                back = n - 1 - j + frames_after
                listen.talking_at = ctx.t - back * cfg.frame_ms / 1000.0
        else:  # hysteresis, as for an onset
            listen.voice_run_ms = max(0.0, listen.voice_run_ms - cfg.frame_ms)


def _maybe_check(ctx: Ctx, frames_after: int) -> None:
    """At a pause long enough, ask the end-of-turn model (one check in flight at most)."""
    cfg, st = ctx.cfg, ctx.st
    listen, ep = st.listen, st.listen.ep
    if not ep.active:
        return
    if ep.silence_ms == 0.0:  # speaking again: a later pause is judged afresh
        if listen.next_check_ms:
            listen.resumed_ms += cfg.frame_ms
        if not listen.next_check_ms or listen.resumed_ms >= cfg.turn_resume_ms:
            _new_pause(listen)
        return
    due = listen.next_check_ms or float(cfg.turn_check_ms)
    if listen.check or listen.finished or ep.silence_ms < due:
        return  # one check in flight at most; a "finished" waits for the words
    if ep.speech_ms < cfg.min_utterance_ms:
        return
    if not listen.next_check_ms:  # the first check of this pause: transcribe its words now
        cut = cut_now(ep, _params(ctx, "listen"), cfg.min_utterance_ms)
        if cut is not None:
            _request_stt(ctx, cut)
    st.counters.turn_checks += 1
    listen.check = st.counters.turn_checks
    listen.next_check_ms = ep.silence_ms + cfg.turn_recheck_ms
    ctx.out.append(
        CheckTurn(check=listen.check, audio_ms=ep.utterance_ms, skip_ms=frames_after * cfg.frame_ms)
    )


def on_verdict(ctx: Ctx, verdict: TurnVerdict) -> Outcome | None:
    """The end-of-turn model's answer to a ``CheckTurn``. Stale answers (the candidate
    spoke again since, or the utterance is over) are counted and ignored."""
    st = ctx.st
    listen = st.listen
    mode = _mode(ctx)
    if verdict.check == 0 or verdict.check != listen.check or mode != "listen":
        st.counters.stale_verdicts += 1
        return None
    listen.check = 0
    st.counters.turn_verdicts += 1
    if not listen.ep.active:
        return None
    if verdict.probability < ctx.cfg.turn_complete:
        listen.unfinished = True
        return None
    listen.finished = True
    return _agreed(ctx)


def _agreed(ctx: Ctx) -> Outcome | None:
    """End the turn if the model said finished and the words agree; if the words are in
    and disagree, fall back to the long silence."""
    listen, ep = ctx.st.listen, ctx.st.listen.ep
    if not listen.finished or not ep.active or ep.silence_ms == 0.0:
        return None
    if any(s.status == "pending" for s in listen.segments):
        return None  # wait for the words
    if ep.segment_speech_ms >= ctx.cfg.turn_resume_ms:
        return None  # words since the cut, not transcribed: the next check cuts them
    if not looks_complete(_text(listen), ctx.settings.language):
        listen.finished, listen.unfinished = False, True
        return None
    ep.segment, ep.segment_ms, ep.segment_speech_ms = b"", 0.0, 0.0  # a blip, not words
    ctx.st.counters.turn_model_ends += 1
    return _signals(ctx, "listen", end_turn(listen.ep, _params(ctx, "listen")), ctx.t)


def _new_pause(listen: Listen) -> None:
    listen.check, listen.next_check_ms, listen.resumed_ms = 0, 0.0, 0.0
    listen.unfinished = listen.finished = False


def tick(ctx: Ctx) -> Outcome | None:
    """End an open utterance whose audio stopped arriving (muted or frozen client)."""
    listen = ctx.st.listen
    if ctx.st.phase != "listening" or not listen.ep.active or listen.last_frame_at is None:
        return None
    if ctx.t - listen.last_frame_at < ctx.cfg.stall_s:
        return None
    return _signals(ctx, "listen", flush(listen.ep, _params(ctx, "listen")), ctx.t)


def _signals(ctx: Ctx, mode: Mode, signals: list[Signal], frame_t: float) -> Outcome | None:
    outcome: Outcome | None = None
    for sig in signals:
        if isinstance(sig, Onset):
            _onset(ctx, mode, frame_t)
        elif isinstance(sig, SegmentCut):
            _request_stt(ctx, sig)
        elif isinstance(sig, Endpoint):
            outcome = _endpoint(ctx, sig)
    return outcome


def _onset(ctx: Ctx, mode: Mode, frame_t: float) -> None:
    st = ctx.st
    if mode == "barge":
        air = speech.stop(ctx)
        st.counters.barge_ins += 1
        ep = st.listen.ep
        turn = air.turn if air is not None else st.turn
        st.listen = Listen(turn=turn, ep=ep)
        ctx.set_phase("listening")
    elif mode == "resume":
        st.listen.awaiting_final = False
        st.listen.ended_at = None
        ctx.set_phase("listening")
    _new_pause(st.listen)
    if st.listen.started_at is None:
        st.listen.started_at = frame_t


def _request_stt(ctx: Ctx, cut: SegmentCut) -> None:
    st, cfg = ctx.st, ctx.cfg
    listen = st.listen
    n = listen.next_segment
    listen.next_segment += 1
    job = SttJob(
        job_id=ctx.job_id(listen.turn, "stt", n),
        session_id=st.session_id,
        language=ctx.settings.language,
        pcm=cut.pcm,
        sample_rate=cfg.sample_rate,
        prompt=trim_left(_text(listen), cfg.stt_prompt_chars),
        segment=n,
    )
    audio_s = len(cut.pcm) / (2 * cfg.sample_rate)
    timeout = cfg.deadline_stt_s + audio_s * cfg.deadline_stt_per_audio_s
    if ctx.request(job, "stt", "stt", timeout, ref=n):
        listen.segments.append(Segment(index=n, job=job.job_id, speech_ms=cut.speech_ms))


def _endpoint(ctx: Ctx, sig: Endpoint) -> Outcome | None:
    st = ctx.st
    listen = st.listen
    if sig.speech_ms < ctx.cfg.min_utterance_ms:
        st.counters.short_utterances += 1
        if not listen.segments:  # a cough on its own: forget it, keep listening
            abort(ctx)
            return None
        # A cough after the answer (it reopened the turn): the answer stands as it was.
    listen.awaiting_final = True
    listen.ended_at = ctx.t
    listen.used_ms += sig.utterance_ms
    ctx.set_phase("thinking")
    return _finalize(ctx)


def on_stt(ctx: Ctx, job_id: str, result: Result | None) -> Outcome | None:
    """Record a segment's text (``None``: failed or expired, the text is lost)."""
    listen = ctx.st.listen
    seg = next((s for s in listen.segments if s.job == job_id), None)
    if seg is None:
        return None
    if isinstance(result, SttResult):
        seg.status = "done"
        seg.text = "" if result.no_speech else result.text.strip()
    else:
        seg.status = "failed"
    if listen.awaiting_final:
        return _finalize(ctx)
    _partial(ctx)
    if _mode(ctx) == "listen":
        return _agreed(ctx)
    return None


def _text(listen: Listen) -> str:
    return join_texts([s.text for s in listen.segments if s.status == "done"])


def _partial(ctx: Ctx) -> None:
    listen = ctx.st.listen
    prefix: list[str] = []
    for seg in listen.segments:
        if seg.status == "pending":
            break
        prefix.append(seg.text)
    text = join_texts(prefix)
    if text and text != listen.partial:
        listen.partial = text
        ctx.emit(Transcript(turn=listen.turn, text=text, final=False))
        prefill.answer_so_far(ctx, listen.turn, text)


def _finalize(ctx: Ctx) -> Outcome | None:
    listen = ctx.st.listen
    if any(s.status == "pending" for s in listen.segments):
        _partial(ctx)
        return None
    total_ms = sum(s.speech_ms for s in listen.segments)
    failed_ms = sum(s.speech_ms for s in listen.segments if s.status == "failed")
    text = truncate(_text(listen), ctx.cfg.max_answer_chars)
    latency: dict[str, float] = {}
    if listen.ended_at is not None:
        if listen.last_speech_at is not None:
            latency["endpoint_ms"] = _ms(listen.ended_at - listen.last_speech_at)
        latency["stt_final_ms"] = _ms(ctx.t - listen.ended_at)
    last_speech_at = listen.last_speech_at
    timing = _timing(listen, total_ms)
    ctx.st.listen = Listen(turn=listen.turn, ep=listen.ep, next_segment=listen.next_segment)
    if failed_ms > 0 and (not text or failed_ms > ctx.cfg.stt_fail_ratio * total_ms):
        return Repeat()
    if not text:
        return Nothing()
    return Final(text, latency, last_speech_at, timing)


def _timing(listen: Listen, speech_ms: float) -> Timing | None:
    start, last = listen.started_at, listen.last_speech_at
    if start is None or last is None:
        return None
    first = None if listen.opened_at is None else start - listen.opened_at
    # The onset is declared a little after speech begins: never less than the voiced time.
    duration = max(last - start, speech_ms / 1000.0)
    return Timing(
        first_word_s=first,
        duration_s=duration,
        speech_s=speech_ms / 1000.0,
        pauses=list(listen.pauses),
    )


def _ms(seconds: float) -> float:
    return round(max(0.0, seconds) * 1000.0, 1)
