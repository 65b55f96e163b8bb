"""Interviewer speech out: turns on air, TTS per sentence, ordered audio, playback clock.

A turn on air (:class:`OnAir`) is a list of sentences played in order. Each sentence gets
its own TTS job as soon as its text is known, so synthesis of sentence 2 overlaps the
playback of sentence 1; chunks that arrive early wait in a bounded reorder buffer.

Playback is estimated, not reported: the client plays chunks back to back, so each chunk
starts at ``max(now, previous end)`` and lasts ``samples / rate``. That estimate decides
when listening starts and which sentences a barge-in let the candidate hear.

``question`` events: one per turn whenever its shown text grows (the first sentence, then
the text so far, same ``turn``); the last one for a turn carries the full text. The
acknowledgment that opens a response turn is spoken but not shown.
"""

from __future__ import annotations

__all__ = [
    "ANSWERABLE",
    "adopt",
    "append",
    "finish_stream",
    "heard_text",
    "holding",
    "note_asked",
    "on_tts",
    "playing_done",
    "pump",
    "sentence",
    "start_turn",
    "stop",
]


from actors.session.commands import EmitAudio, Snapshot
from actors.session.ctx import Ctx
from actors.session.state import (
    AirKind,
    AirPlan,
    AudioChunk,
    OnAir,
    Prepared,
    Sentence,
    SessionState,
)
from bus.events import Question, QuestionKind, Speaking, StopAudio
from bus.jobs import Result, TtsChunk, TtsDone, TtsJob

ANSWERABLE: tuple[QuestionKind, ...] = ("main", "followup", "repeat")
"""Kinds of turn the candidate answers (and may interrupt)."""


def sentence(text: str, shown: bool = True) -> Sentence:
    return Sentence(text=text, shown=shown)


def start_turn(
    ctx: Ctx,
    kind: AirKind,
    index: int,
    sentences: list[Sentence],
    *,
    complete: bool,
    plan: AirPlan = "",
    responds_to: int = -1,
) -> OnAir:
    """Open a new turn (``turn`` + 1) on air, request TTS for its sentences and show it."""
    st = ctx.st
    st.turn += 1
    air = OnAir(
        turn=st.turn,
        kind=kind,
        index=index,
        plan=plan,
        complete=complete,
        responds_to=responds_to,
        content_at=ctx.t if kind else None,
    )
    st.air = air
    _extend(ctx, air, sentences)
    if complete:
        finish_stream(ctx, air)
    return air


def append(ctx: Ctx, stream: OnAir | Prepared, texts: list[str]) -> None:
    """Add streamed sentences (capped at ``max_sentences``) and start their TTS."""
    room = ctx.cfg.max_sentences - sum(1 for s in stream.sentences if s.shown)
    _extend(ctx, stream, [sentence(t) for t in texts[: max(0, room)]])


def adopt(ctx: Ctx, air: OnAir, prep: Prepared) -> None:
    """Put a prepared question (main or follow-up) on air after what is already there;
    the LLM job still streaming into it now streams into the turn."""
    air.kind = prep.kind
    air.index = prep.index
    air.content_at = ctx.t
    air.llm_job = prep.llm_job
    air.next_llm_index = prep.next_llm_index
    air.gap = prep.gap
    air.complete = prep.complete
    if ctx.st.prepared is prep:
        ctx.st.prepared = None
    if ctx.st.followup is prep:
        ctx.st.followup = None
    for s in prep.sentences:
        if s.status == "failed" and not s.chunks:  # retry now: usually a TTS cache hit
            s.status, s.job = "wait", ""
    _extend(ctx, air, prep.sentences)


def finish_stream(ctx: Ctx, stream: OnAir | Prepared) -> None:
    """No more sentences will come: stop listening to the LLM job, note the question."""
    ctx.cancel(stream.llm_job)
    stream.llm_job = ""
    stream.complete = True
    text = " ".join(s.text for s in stream.sentences if s.shown)
    if stream.kind == "main":
        note_asked(ctx.st, stream.index, text)


def note_asked(st: SessionState, index: int, text: str) -> None:
    """Remember main question ``index``'s full text (given to the LLM as ``asked``)."""
    if index <= 0:
        return
    while len(st.asked) < index:
        st.asked.append("")
    st.asked[index - 1] = text


def _extend(ctx: Ctx, stream: OnAir | Prepared, sentences: list[Sentence]) -> None:
    for s in sentences:
        stream.sentences.append(s)
        if s.status == "wait":
            _request(ctx, stream, s, len(stream.sentences) - 1)
    if isinstance(stream, OnAir):
        _show(ctx, stream)


def _request(ctx: Ctx, stream: OnAir | Prepared, s: Sentence, n: int) -> None:
    if isinstance(stream, OnAir):
        job_id = ctx.job_id(stream.turn, "tts", n)
    elif ctx.cfg.prefetch_tts and stream.kind == "main":
        job_id = ctx.job_id(ctx.st.turn, "tts", f"q{stream.index}.{n}")
    else:
        return
    st = ctx.st
    job = TtsJob(
        job_id=job_id,
        session_id=st.session_id,
        language=ctx.settings.language,
        text=s.text,
        voice=ctx.cfg.voice,
    )
    if ctx.request(job, "tts", "tts", ctx.cfg.deadline_tts_s):
        s.job = job_id
        s.status = "synth"
    else:
        s.status = "failed"


def _show(ctx: Ctx, air: OnAir) -> None:
    text = " ".join(s.text for s in air.sentences if s.shown)
    kind = air.kind
    if not text or text == air.shown_text or kind == "":
        return
    air.shown_text = text
    if air.kind in ("main", "followup"):
        cur = ctx.st.current
        cur.turn, cur.kind, cur.index, cur.text = air.turn, air.kind, air.index, text
    ctx.emit(
        Question(
            turn=air.turn,
            text=text,
            kind=kind,
            index=air.index,
            total=ctx.settings.total,
        )
    )
    # A question on air is a point to resume from: after a crash the next owner re-asks
    # it (and takes the answer the edge re-sends) rather than going back a turn.
    ctx.out.append(Snapshot("asked"))


# --- TTS results ---------------------------------------------------------------------


def _find(st: SessionState, job_id: str) -> tuple[OnAir | Prepared | None, Sentence | None]:
    for stream in (st.air, st.prepared):
        if stream is None:
            continue
        for s in stream.sentences:
            if s.job == job_id:
                return stream, s
    return None, None


def on_tts(ctx: Ctx, job_id: str, result: Result | None) -> None:
    """Route a TTS result (``None`` = failed or expired) to its sentence."""
    stream, s = _find(ctx.st, job_id)
    if stream is None or s is None:
        return
    if isinstance(result, TtsChunk):
        _add_chunk(s, AudioChunk(result.index, result.sample_rate, result.pcm))
        _bound(ctx)
    elif isinstance(result, TtsDone):
        s.status = "done"
    else:  # JobError, a wrong result type, or None (deadline)
        s.status = "failed"


def _add_chunk(s: Sentence, chunk: AudioChunk) -> None:
    if chunk.index < s.next_chunk or any(c.index == chunk.index for c in s.chunks):
        return
    s.chunks.append(chunk)
    s.chunks.sort(key=lambda c: c.index)


def _buffered(st: SessionState) -> int:
    total = 0
    for stream in (st.air, st.prepared):
        if stream is not None:
            total += sum(len(c.pcm) for s in stream.sentences for c in s.chunks)
    return total


def _bound(ctx: Ctx) -> None:
    """Keep held audio under ``tts_buffer_max_bytes``: first give up the prepared audio
    (it is re-synthesised, from the TTS cache, when it goes on air), then skip the
    sentence that blocks the reorder buffer."""
    st = ctx.st
    if _buffered(st) <= ctx.cfg.tts_buffer_max_bytes:
        return
    if st.prepared is not None:
        for s in st.prepared.sentences:
            st.counters.tts_dropped_bytes += sum(len(c.pcm) for c in s.chunks)
            ctx.cancel(s.job)
            s.job, s.status, s.chunks, s.next_chunk = "", "wait", [], 0
    air = st.air
    while air is not None and _buffered(st) > ctx.cfg.tts_buffer_max_bytes:
        if air.cursor >= len(air.sentences):
            break
        blocker = air.sentences[air.cursor]
        st.counters.tts_dropped_bytes += sum(len(c.pcm) for c in blocker.chunks)
        ctx.cancel(blocker.job)
        blocker.chunks, blocker.status = [], "failed"
        pump(ctx)


# --- playback ------------------------------------------------------------------------


def pump(ctx: Ctx) -> None:
    """Emit every chunk of the turn on air that is due, in sentence and chunk order."""
    air = ctx.st.air
    if air is None or holding(ctx):
        return
    while air.cursor < len(air.sentences):
        s = air.sentences[air.cursor]
        if s.status == "wait":
            _request(ctx, air, s, air.cursor)
        while s.chunks and s.chunks[0].index == s.next_chunk:
            _play(ctx, air, s, s.chunks.pop(0))
        if s.status not in ("done", "failed"):
            return
        while s.chunks:  # terminal: play what arrived, skipping lost chunks
            _play(ctx, air, s, s.chunks.pop(0))
        air.cursor += 1


def holding(ctx: Ctx) -> bool:
    """True while the turn on air is held back: a response turn whose acknowledgment (its
    first sentence, spoken, not shown) has not started yet waits while the candidate talks
    (they resumed after their answer was settled), at most ``ack_hold_s``. A held turn
    cannot be barged into: nothing of it was heard."""
    air = ctx.st.air
    if air is None or air.first_audio_at is not None:
        return False
    if not air.sentences or air.sentences[0].shown:
        return False
    talking_at = ctx.st.listen.talking_at
    if talking_at is None or ctx.t - air.opened_at >= ctx.cfg.ack_hold_s:
        return False
    return ctx.t - talking_at < ctx.cfg.segment_pause_ms / 1000.0


def _play(ctx: Ctx, air: OnAir, s: Sentence, chunk: AudioChunk) -> None:
    if not air.speaking_sent:
        air.speaking_sent = True
        ctx.emit(Speaking(turn=air.turn))
    start = max(ctx.t, air.playback_end)
    if s.started_at is None:
        s.started_at = start
    rate = chunk.sample_rate if chunk.sample_rate > 0 else 16000
    air.playback_end = start + (len(chunk.pcm) // 2) / rate
    s.next_chunk = chunk.index + 1
    if air.first_audio_at is None:
        air.first_audio_at = ctx.t
    if s.shown and air.content_audio_at is None:
        air.content_audio_at = ctx.t
    ctx.out.append(EmitAudio(air.turn, air.chunk_seq, rate, chunk.pcm))
    air.chunk_seq += 1


def playing_done(ctx: Ctx) -> bool:
    """True once the turn on air is complete, fully sent, and (estimated) heard."""
    air = ctx.st.air
    if air is None or not air.complete or air.cursor < len(air.sentences):
        return False
    return ctx.t >= air.playback_end + ctx.cfg.playback_margin_ms / 1000.0


def heard_text(air: OnAir, t: float) -> str:
    """The shown sentences whose playback had started by ``t``."""
    heard = [
        s.text for s in air.sentences if s.shown and s.started_at is not None and s.started_at <= t
    ]
    return " ".join(heard)


def stop(ctx: Ctx) -> OnAir | None:
    """Take the turn off air now (barge-in, end): tell the client to stop playback,
    forget its pending TTS/LLM jobs, and keep as the question only what was heard."""
    st = ctx.st
    air = st.air
    if air is None:
        return None
    if air.speaking_sent:
        ctx.emit(StopAudio(turn=air.turn))
    for s in air.sentences:
        ctx.cancel(s.job)
        s.chunks = []
    if not air.complete:
        finish_stream(ctx, air)
    if air.kind in ("main", "followup"):
        st.current.text = heard_text(air, ctx.t) or air.shown_text
    st.air = None
    return air
