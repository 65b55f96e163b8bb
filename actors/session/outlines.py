"""After the report: "a stronger answer", per main question.

Once the report is out, :func:`request` asks the LLM, on its low-priority ``assess``
queue, for a short outline of what a strong answer to each main question would contain
given this candidate's résumé (the retrieved context and the question's plan line) and
their answer. :func:`on_outline` stores each outline in its ``TurnRecord`` and sends and
persists the report again with it (``answers[].outline``). The report is complete
without them: an outline that fails, or comes after the session ended, is simply absent.
"""

from __future__ import annotations

__all__ = ["MAX_OUTLINES", "on_outline", "request"]

import msgspec

from actors.interview.text import truncate
from actors.session.commands import PersistReport
from actors.session.ctx import Ctx
from actors.session.report import build_report
from bus.events import Report
from bus.jobs import LlmDone, LlmJob, Result

#: Outlines asked for per interview (the first main questions).
MAX_OUTLINES = 5
_MAX_CHARS = 1200
_CONTEXT = 3


def request(ctx: Ctx) -> None:
    """Ask for an outline of each answered main question (at most :data:`MAX_OUTLINES`)."""
    st, s, cfg = ctx.st, ctx.settings, ctx.cfg
    asked = 0
    for ref, rec in enumerate(st.answers):
        if rec.kind != "main" or rec.outline or asked >= MAX_OUTLINES:
            continue
        asked += 1
        job = LlmJob(
            job_id=ctx.job_id(rec.turn, "llm", "outline"),
            session_id=st.session_id,
            task="outline",
            language=s.language,
            role=s.role,
            difficulty=s.difficulty,
            context=list(st.context)[:_CONTEXT],
            question=rec.question,
            answer=truncate(rec.answer, 1500),
            anchor=rec.anchor_line,
            max_tokens=cfg.outline_max_tokens,
        )
        ctx.request(job, "assess", "outline", cfg.deadline_outline_s, ref=ref)


def on_outline(ctx: Ctx, ref: int, result: Result | None) -> None:
    """Keep one outline, send and persist the report with it; nothing when the job
    failed or gave nothing."""
    st = ctx.st
    if not isinstance(result, LlmDone) or not 0 <= ref < len(st.answers):
        return
    text = truncate(result.text.strip(), _MAX_CHARS)
    if not text:
        return
    rec = msgspec.structs.replace(st.answers[ref], outline=text)
    st.answers[ref] = rec
    report = build_report(
        st.session_id, ctx.settings, st.answers, asked=st.main_asked, ended_early=st.ended_early
    )
    ctx.emit(Report(report=report))
    ctx.out.append(PersistReport(report))
