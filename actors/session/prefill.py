"""Read the answer into the LLM while the candidate is still speaking.

Each time the settled transcript of the answer grows, the core sends a ``prefill`` job
with the answer so far. It rides the assessment queue (background, preempted by live
work); the engine evaluates the assessment prompt up to the end of those words and keeps
it cached, so the assessment requested when the answer is final only reads what was said
after it. Nothing waits for a prefill and its result carries nothing: a dropped or late
one costs only the time it would have saved.
"""

from __future__ import annotations

__all__ = ["answer_so_far"]

from actors.interview.text import truncate
from actors.session.ctx import Ctx
from bus.jobs import LlmJob

#: What the assessment job of the same answer gets (flow._request_assess): the same
#: prompt fields, so the cached prefix matches.
ASSESS_ANSWER_CHARS = 2000


def answer_so_far(ctx: Ctx, turn: int, text: str) -> None:
    """Ask for a prefill of ``text`` (the settled words of the answer of ``turn``), unless
    turned off, too short to be worth it, or one for this session is still queued."""
    st, cfg = ctx.st, ctx.cfg
    if (
        not cfg.prefill_answers
        or st.settings is None
        or st.current.kind
        not in (
            "main",
            "followup",
        )
    ):
        return
    if len(text.split()) < cfg.prefill_min_words or ctx.live("prefill"):
        return
    s = ctx.settings
    job = LlmJob(
        job_id=ctx.job_id(turn, "assess", f"p{len(text)}"),
        session_id=st.session_id,
        task="prefill",
        language=s.language,
        role=s.role,
        difficulty=s.difficulty,
        question=st.current.text,
        answer=truncate(text, ASSESS_ANSWER_CHARS),
        max_tokens=0,
    )
    ctx.request(job, "assess", "prefill", cfg.deadline_prefill_s)
