"""The interview plan: greeting, questions, follow-ups, closing, report.

Progress is level-triggered: :func:`advance` looks at the state and does whatever is now
possible (put the prepared question on air, start listening, finish the report), so the
order in which results and ticks arrive cannot leave the interview stuck.

Turn layout, as the client sees it::

    turn 1  greeting                      (then straight on)
    turn 2  main question 1               -> listening -> answer
    turn 3  "Thank you." + follow-up      -> listening -> answer
    turn 4  "Thanks, next." + question 2  -> ...
    turn n  closing  (report once assessed) -> reporting -> finished

The acknowledgment opens the response turn at once (it is a TTS cache hit), while the
LLM decides on a follow-up; the next main question was prepared during the answer.
"""

from __future__ import annotations

__all__ = [
    "advance",
    "answer_text",
    "end",
    "on_analysis",
    "on_assess",
    "on_outcome",
    "start",
]

import msgspec

from actors.interview.documents import read_documents
from actors.interview.text import truncate
from actors.session import (
    delivery,
    followups,
    listening,
    outlines,
    questions,
    speech,
    understanding,
)
from actors.session.bank import seed_of
from actors.session.commands import PersistReport, PersistTurn
from actors.session.ctx import Ctx
from actors.session.listening import Final, Nothing, Outcome, Repeat
from actors.session.plan import make_plan
from actors.session.prefill import ASSESS_ANSWER_CHARS
from actors.session.report import (
    build_report,
    earlier_answers,
    grader_assessment,
    heuristic_assessment,
    honest_assessment,
    parse_assessment,
)
from actors.session.state import (
    AirPlan,
    AnswerSource,
    Assessment,
    OnAir,
    Prepared,
    Settings,
    TurnRecord,
)
from bus.events import Error, Report, Start, Transcript
from bus.jobs import Exchange, LlmDone, LlmJob, Result

_OVER = ("closing", "reporting", "finished")

# --- start -----------------------------------------------------------------------------


def start(ctx: Ctx, ev: Start) -> None:
    """Greet at once; retrieve context and prepare the first question meanwhile."""
    st = ctx.st
    if st.phase != "idle":
        ctx.emit(Error(code="already_started", message="the interview has already started"))
        return
    query = truncate(f"{ev.role} {ev.difficulty} interview. {ev.job_posting}", ctx.cfg.query_chars)
    st.settings = Settings(
        role=ev.role,
        language=ev.language,
        difficulty=ev.difficulty,
        total=ev.questions,
        query=query,
        practise=" ".join(ev.practise.split()),
    )
    docs = read_documents(ev.resume_text, ev.job_posting)
    docs = msgspec.structs.replace(
        docs,
        claims=docs.claims[: ctx.cfg.plan_claims],
        requirements=docs.requirements[:24],
        employers=docs.employers[:12],
    )
    st.docs = docs
    st.settings.key_terms = list(
        dict.fromkeys(t for r in docs.requirements if r.must for t in r.techs)
    )
    st.plan = make_plan(docs, ev.questions, seed=seed_of(st.session_id))
    understanding.request_match(ctx)
    understanding.request_claims(ctx)
    ctx.set_phase("greeting")
    speech.start_turn(ctx, "greeting", 0, [speech.sentence(ctx.phrase("greeting"))], complete=True)
    questions.begin_retrieval(ctx, ev)
    ctx.snapshot("start")


# --- answers ------------------------------------------------------------------------


def on_outcome(ctx: Ctx, outcome: Outcome | None) -> None:
    """Act on what listening settled."""
    st = ctx.st
    if isinstance(outcome, Final):
        _answer(
            ctx, outcome.text, "speech", outcome.latency, outcome.last_speech_at, outcome.timing
        )
    elif isinstance(outcome, Repeat):
        st.counters.repeats += 1
        if st.repeats < ctx.cfg.max_repeats:
            st.repeats += 1
            ctx.set_phase("asking")
            text = ctx.phrase("repeat")
            speech.start_turn(
                ctx, "repeat", st.current.index, [speech.sentence(text)], complete=True
            )
        else:  # STT keeps failing: do not loop forever on one question
            st.repeats = 0
            _respond(ctx, answered=False, responds_to=-1, last_speech_at=None)
    elif isinstance(outcome, Nothing):
        listening.begin(ctx, st.listen.turn)
        ctx.set_phase("listening")


def answer_text(ctx: Ctx, text: str) -> None:
    """A typed answer: accepted while listening or while the question plays."""
    st = ctx.st
    if st.phase == "idle":
        ctx.emit(Error(code="not_started", message="send start first"))
        return
    air = st.air
    if st.phase == "asking" and air is not None and air.kind in speech.ANSWERABLE:
        speech.stop(ctx)
        listening.begin(ctx, air.turn)
    elif st.phase == "listening":
        listening.abort(ctx)
    else:
        ctx.emit(Error(code="not_listening", message=f"not expecting an answer ({st.phase})"))
        return
    clean = truncate(" ".join(text.split()), ctx.cfg.max_answer_chars)
    if not clean:
        ctx.emit(Error(code="empty_answer", message="the answer is empty"))
        ctx.set_phase("listening")
        return
    _answer(ctx, clean, "text", {}, None)


def _answer(
    ctx: Ctx,
    text: str,
    source: AnswerSource,
    latency: dict[str, float],
    last_speech_at: float | None,
    timing: delivery.Timing | None = None,
) -> None:
    st, cfg = ctx.st, ctx.cfg
    turn, cur = st.listen.turn, st.current
    ctx.emit(Transcript(turn=turn, text=text, final=True))
    anchor = st.plan[cur.index - 1] if 0 < cur.index <= len(st.plan) else None
    record = TurnRecord(
        session_id=st.session_id,
        turn=turn,
        index=cur.index,
        kind=cur.kind or "main",
        question=cur.text,
        answer=text,
        source=source,
        language=ctx.settings.language,
        latency=latency,
        anchor=anchor.term if anchor is not None else "",
        anchor_line=anchor.line if anchor is not None else "",
        delivery=delivery.analyse(
            text,
            ctx.settings.language,
            kind=cur.kind or "main",
            timing=timing,
            key_terms=ctx.settings.key_terms,
        ),
    )
    st.answers.append(record)
    st.history.append(
        Exchange(
            question=truncate(cur.text, cfg.history_answer_chars),
            answer=truncate(text, cfg.history_answer_chars),
        )
    )
    del st.history[: max(0, len(st.history) - cfg.history_turns)]
    ctx.out.append(PersistTurn(record))
    if not understanding.request_analysis(ctx, len(st.answers) - 1):
        _request_assess(ctx, len(st.answers) - 1)
    _respond(
        ctx,
        answered=True,
        responds_to=len(st.answers) - 1,
        last_speech_at=last_speech_at,
        answer=text,
    )
    ctx.snapshot("turn")


def on_analysis(ctx: Ctx, ref: int, result: Result | None) -> None:
    """The embedding model has read answer ``ref`` (or could not): keep what it found,
    have the answer assessed without the text addressed to the grader, and reconsider a
    follow-up that is not on air yet."""
    st = ctx.st
    if not 0 <= ref < len(st.answers):
        return
    rec = st.answers[ref]
    analysis = understanding.analysis_of(ctx.cfg, rec.answer, result)
    st.answers[ref] = msgspec.structs.replace(rec, analysis=analysis)
    ctx.out.append(PersistTurn(st.answers[ref]))
    _request_assess(ctx, ref)
    _reconsider_followup(ctx, ref)


def _reconsider_followup(ctx: Ctx, ref: int) -> None:
    """A follow-up decided by the rules before the answer was read: quote a sentence that
    is not addressed to the grader, or drop it when nothing else is left to ask about."""
    st = ctx.st
    air, prep = st.air, st.followup
    rec = st.answers[ref]
    analysis = rec.analysis
    if air is None or air.kind or air.plan != "followup" or air.responds_to != ref:
        return
    if prep is None or prep.gap == followups.REPEAT or analysis is None:
        return
    if not analysis.grader:
        return  # off the question or not, asking for the missing detail is what to do
    clean = analysis.clean(rec.answer)
    earlier = [r.answer for r in st.answers[:ref] if r.index != rec.index]
    decision = followups.decide(clean, ctx.settings.language, earlier)
    ctx.cancel(prep.llm_job)
    st.followup = None
    if decision is None:
        total = ctx.settings.total
        air.plan = "next" if st.main_asked < total and not st.ended_early else "closing"
        return
    _request_followup(ctx, air, clean, decision, label="f2")


def _request_assess(ctx: Ctx, ref: int) -> None:
    st, s = ctx.st, ctx.settings
    rec = st.answers[ref]
    answer = rec.analysis.clean(rec.answer) if rec.analysis is not None else rec.answer
    if rec.analysis is not None and rec.analysis.grader and not answer.strip():
        # nothing but text to the grader: decided by rule, no model needed
        on_assess(ctx, ref, None, ruled=grader_assessment())
        return
    job = LlmJob(
        job_id=ctx.job_id(rec.turn, "assess"),
        session_id=st.session_id,
        task="assess",
        language=s.language,
        role=s.role,
        difficulty=s.difficulty,
        question=rec.question,
        answer=truncate(answer, ASSESS_ANSWER_CHARS),
        max_tokens=ctx.cfg.assess_max_tokens,
    )
    if not ctx.request(job, "assess", "assess", ctx.cfg.deadline_assess_s, ref=ref):
        on_assess(ctx, ref, None)


def on_assess(
    ctx: Ctx, ref: int, result: Result | None, *, ruled: Assessment | None = None
) -> None:
    """Store an answer's assessment (``ruled``: decided without a model; a heuristic one
    when the LLM's is unusable)."""
    st = ctx.st
    if not 0 <= ref < len(st.answers):
        return
    rec = st.answers[ref]
    assessment = parse_assessment(result.rubric) if isinstance(result, LlmDone) else ruled
    if assessment is None:
        st.counters.assess_fallbacks += 1
        assessment = heuristic_assessment(rec.question, rec.answer, rec.language)
    assessment = honest_assessment(
        assessment,
        rec.question,
        rec.answer,
        rec.language,
        earlier_answers(st.answers, rec),
        rec.analysis,
        rec.kind,
    )
    st.answers[ref] = msgspec.structs.replace(rec, assessment=assessment)
    ctx.out.append(PersistTurn(st.answers[ref]))


def _respond(
    ctx: Ctx,
    *,
    answered: bool,
    responds_to: int,
    last_speech_at: float | None,
    answer: str = "",
) -> None:
    """Open the response turn: an acknowledgment now, then a follow-up, the prepared next
    question, or the closing."""
    st, cfg = ctx.st, ctx.cfg
    can_follow = answered and st.current.kind in ("main", "followup")
    decision = None
    plan: AirPlan
    if can_follow and st.followups_used < cfg.max_followups:
        earlier = [r.answer for r in st.answers[:-1] if r.index != st.current.index]
        decision = followups.decide(answer, ctx.settings.language, earlier)
    if decision is not None:
        plan = "followup"
    elif st.main_asked < ctx.settings.total:
        plan = "next"
    else:
        _closing(ctx, responds_to, last_speech_at)
        return
    if plan == "followup":
        key = "ack"
    else:
        key = "last_question" if st.main_asked + 1 == ctx.settings.total else "next"
    ack = speech.sentence(ctx.phrase(key), shown=False)
    ctx.set_phase("thinking")
    air = speech.start_turn(
        ctx, "", st.current.index, [ack], complete=False, plan=plan, responds_to=responds_to
    )
    air.opened_at, air.last_speech_at = ctx.t, last_speech_at
    if decision is not None:
        _request_followup(ctx, air, answer, decision)


def _request_followup(
    ctx: Ctx, air: OnAir, answer: str, decision: followups.Decision, label: str = "f"
) -> None:
    """The follow-up opens with the quote at once; the LLM phrases the question after it.
    ``label`` makes the LLM job's id unique within the turn (a reconsidered follow-up must
    not reuse the first one's id: JetStream would drop it as a duplicate)."""
    st, s, cfg = ctx.st, ctx.settings, ctx.cfg
    prep = Prepared(index=st.current.index, kind="followup", gap=decision.gap)
    speech.append(ctx, prep, [followups.opening(decision, s.language)])
    st.followup = prep
    cur = st.current
    anchor = st.plan[cur.index - 1] if 0 < cur.index <= len(st.plan) else None
    # about people, the 1.5B model drifted to technology: the gap's template asks instead
    behaviour = anchor is not None and anchor.focus == "behaviour" and not cfg.llm_behaviour
    if (
        decision.gap == followups.REPEAT
        or s.language not in cfg.llm_phrasing.split(",")
        or behaviour
    ):
        speech.append(ctx, prep, [followups.fallback_question(s.language, prep)])
        speech.finish_stream(ctx, prep)
        return
    job = LlmJob(
        job_id=ctx.job_id(air.turn, "llm", label),
        session_id=st.session_id,
        task="followup",
        language=s.language,
        role=s.role,
        difficulty=s.difficulty,
        context=list(st.context),
        history=list(st.history[:-1]),
        question=st.current.text,
        answer=truncate(answer, cfg.history_answer_chars * 2),
        max_tokens=cfg.followup_max_tokens,
        anchor=decision.quote,
        term=decision.gap,
    )
    if ctx.request(job, "llm", "followup", cfg.deadline_followup_s):
        prep.llm_job = job.job_id
    else:
        speech.append(ctx, prep, [followups.fallback_question(s.language, prep)])
        speech.finish_stream(ctx, prep)


def _closing(ctx: Ctx, responds_to: int = -1, last_speech_at: float | None = None) -> None:
    ctx.set_phase("closing")
    air = speech.start_turn(
        ctx,
        "closing",
        0,
        [speech.sentence(ctx.phrase("closing"))],
        complete=True,
        responds_to=responds_to,
    )
    air.opened_at, air.last_speech_at = ctx.t, last_speech_at


def end(ctx: Ctx) -> None:
    """The candidate ends early: stop talking and listening, close, report what exists."""
    st = ctx.st
    if st.phase == "idle":
        ctx.emit(Error(code="not_started", message="send start first"))
        return
    if st.phase in _OVER:
        return
    st.ended_early = True
    speech.stop(ctx)
    listening.abort(ctx)
    for jid, job in list(st.jobs.items()):
        if job.purpose != "assess":
            ctx.cancel(jid)
    st.prepared = st.followup = None
    _closing(ctx)


# --- level-triggered progress ---------------------------------------------------------


def advance(ctx: Ctx) -> bool:
    """Do whatever the state now allows. Returns True if anything changed."""
    st = ctx.st
    if st.phase in ("idle", "finished"):
        return False
    progressed = False
    if speech.playing_done(ctx):
        _turn_done(ctx)
        progressed = True
    if st.phase == "greeting" and st.air is None:
        progressed |= _first_question(ctx)
    if st.air is not None and st.air.kind == "":
        progressed |= _resolve(ctx)
    _record_latency(ctx, force=False)
    scoring = bool(ctx.live("assess") or ctx.live("analyse"))
    if st.phase == "closing" and not st.report_sent and not scoring:
        _send_report(ctx)  # while the closing words still play: nothing left to wait for
        progressed = True
    if st.phase == "reporting" and not scoring:
        _finish(ctx)
        progressed = True
    return progressed


def _turn_done(ctx: Ctx) -> None:
    st = ctx.st
    air = st.air
    assert air is not None
    _record_latency(ctx, force=True)
    st.air = None
    if air.kind in speech.ANSWERABLE:
        listening.begin(ctx, air.turn)
        ctx.set_phase("listening")
    elif air.kind == "closing":
        ctx.set_phase("reporting")
        for jid in ctx.live("assess") + ctx.live("analyse"):
            ctx.tighten(jid, ctx.cfg.report_wait_s)


def _main_on_air(ctx: Ctx) -> None:
    st = ctx.st
    st.main_asked += 1
    st.followups_used = 0
    st.repeats = 0


def _first_question(ctx: Ctx) -> bool:
    prep = questions.take_prepared(ctx)
    if prep is None:
        return False
    ctx.set_phase("asking")
    air = speech.start_turn(ctx, "main", prep.index, [], complete=False)
    speech.adopt(ctx, air, prep)
    _main_on_air(ctx)
    return True


def _resolve(ctx: Ctx) -> bool:
    """The response turn's acknowledgment is playing: add what follows it, if known."""
    air = ctx.st.air
    assert air is not None
    if air.plan == "closing":
        ctx.set_phase("closing")
        air.kind = "closing"
        air.content_at = ctx.t
        speech.append(ctx, air, [ctx.phrase("closing")])
        speech.finish_stream(ctx, air)
        return True
    if air.plan not in ("next", "followup"):
        return False
    followup = air.plan == "followup"
    if followup and understanding.analysing(ctx, air.responds_to):
        return False  # the answer is being read: the follow-up may change (bounded wait)
    prep = questions.take_prepared(ctx, followup=followup)
    if prep is None:
        return False
    ctx.set_phase("asking")
    speech.adopt(ctx, air, prep)
    if followup:
        ctx.st.followups_used += 1
        ctx.st.repeats = 0
    else:
        _main_on_air(ctx)
    return True


def _record_latency(ctx: Ctx, *, force: bool) -> None:
    """Complete the answered turn's latency breakdown once the response is audible."""
    st = ctx.st
    air = st.air
    if air is None or air.responds_to < 0 or air.latency_done:
        return
    if air.content_audio_at is None and not force:
        return
    if not 0 <= air.responds_to < len(st.answers):
        return
    rec = st.answers[air.responds_to]
    lat = dict(rec.latency)

    def ms(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(max(0.0, a - b) * 1000.0, 1)

    marks = {
        "ack_audio_ms": ms(air.first_audio_at, air.opened_at),
        "llm_first_sentence_ms": ms(air.content_at, air.opened_at),
        "tts_first_audio_ms": ms(air.content_audio_at, air.content_at),
        "voice_to_voice_ms": ms(air.first_audio_at, air.last_speech_at),
    }
    lat.update({k: v for k, v in marks.items() if v is not None})
    air.latency_done = True
    st.answers[air.responds_to] = msgspec.structs.replace(rec, latency=lat)
    ctx.out.append(PersistTurn(st.answers[air.responds_to]))


def _send_report(ctx: Ctx) -> None:
    """Build, send and store the report. Sent as soon as every assessment is in, also
    while the closing words still play (the page keeps playing them under the report)."""
    st = ctx.st
    report = build_report(
        st.session_id, ctx.settings, st.answers, asked=st.main_asked, ended_early=st.ended_early
    )
    ctx.emit(Report(report=report))
    ctx.out.append(PersistReport(report))
    st.report_sent = True
    # the state that knows the report went out, stored after it: a node lost while the
    # closing words still play must not send a second report from an older snapshot
    ctx.snapshot("report")


def _finish(ctx: Ctx) -> None:
    """The closing has played and the assessments are in (or past their deadline)."""
    st = ctx.st
    for jid in list(st.jobs):
        ctx.cancel(jid)
    st.prepared = st.followup = None
    if not st.report_sent:
        _send_report(ctx)
    ctx.set_phase("finished")
    st.live.finished_at = ctx.t
    outlines.request(ctx)  # after the report, at low priority; it is complete without them
    ctx.snapshot("finished")
