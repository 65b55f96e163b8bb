"""Job results and deadlines: find the live job, forget it when it ends, dispatch.

A result whose job id is not live (expired, cancelled, never requested, or a redelivery
after the terminal message) is counted in ``counters.late_results`` and ignored. A
``JobError`` and an expired deadline take the same fallback path.
"""

from __future__ import annotations

__all__ = ["expire", "on_result"]

from typing import assert_never

from actors.session import flow, listening, outlines, questions, speech, understanding
from actors.session.ctx import Ctx
from actors.session.state import PendingJob, Purpose
from bus.jobs import (
    EmbedResult,
    JobError,
    LlmDone,
    LlmSentence,
    Result,
    SttResult,
    TtsChunk,
    TtsDone,
    is_terminal,
)

_EXPECTED: dict[Purpose, tuple[type, ...]] = {
    "tts": (TtsChunk, TtsDone),
    "stt": (SttResult,),
    "question": (LlmSentence, LlmDone),
    "followup": (LlmSentence, LlmDone),
    "assess": (LlmSentence, LlmDone),
    "outline": (LlmSentence, LlmDone),
    "prefill": (LlmDone,),
    "claims": (LlmSentence, LlmDone),
    "ingest": (EmbedResult,),
    "search": (EmbedResult,),
    "match": (EmbedResult,),
    "analyse": (EmbedResult,),
}


def on_result(ctx: Ctx, result: Result) -> None:
    """Route one result message to whatever waits for it."""
    st = ctx.st
    job = st.jobs.get(result.job_id)
    if job is None:
        st.counters.late_results += 1
        return
    expected = _EXPECTED.get(job.purpose, ())
    if isinstance(result, JobError) or not isinstance(result, expected):
        # A bad job fails alone: same fallback as a timeout, nothing else is touched.
        del st.jobs[result.job_id]
        st.counters.job_errors += 1
        _dispatch(ctx, result.job_id, job, None)
        return
    if is_terminal(result):
        del st.jobs[result.job_id]
    if job.purpose in ("assess", "outline", "claims") and isinstance(result, LlmSentence):
        return  # only the final rubric / outline matters
    _dispatch(ctx, result.job_id, job, result)


def expire(ctx: Ctx) -> None:
    """Fail every live job whose deadline has passed (oldest first)."""
    st = ctx.st
    if not st.jobs:
        return
    due = sorted((j.deadline, jid) for jid, j in st.jobs.items() if j.deadline <= ctx.t)
    for _, jid in due:
        job = st.jobs.pop(jid, None)
        if job is not None and job.purpose == "prefill":
            continue  # opportunistic: a stale prefill is no missed deadline
        if job is not None:
            st.counters.deadlines_expired += 1
            _dispatch(ctx, jid, job, None)


def _dispatch(ctx: Ctx, job_id: str, job: PendingJob, result: Result | None) -> None:
    purpose = job.purpose
    match purpose:
        case "tts":
            speech.on_tts(ctx, job_id, result)
        case "stt":
            flow.on_outcome(ctx, listening.on_stt(ctx, job_id, result))
        case "question" | "followup":
            questions.on_llm(ctx, job_id, purpose, result)
        case "assess":
            flow.on_assess(ctx, job.ref, result)
        case "outline":
            outlines.on_outline(ctx, job.ref, result)
        case "prefill":
            return  # nothing waits for it
        case "ingest" | "search":
            questions.on_embed(ctx, purpose, result)
        case "match":
            understanding.on_match(ctx, result)
        case "claims":
            understanding.on_claims(ctx, result)
        case "analyse":
            flow.on_analysis(ctx, job.ref, result)
        case _:
            assert_never(purpose)
