"""Questions: retrieval context, the prepared next main question, streamed LLM text.

The next main question does not depend on the answer being given, so it is requested as
soon as the previous one's text is known and waits in ``SessionState.prepared`` (with its
TTS audio, when it fits the buffer). When the LLM is late or fails, a bank question takes
its place; a follow-up that fails or comes back empty simply does not happen.
"""

from __future__ import annotations

__all__ = [
    "begin_retrieval",
    "on_embed",
    "on_llm",
    "prefetch",
    "ready",
    "take_prepared",
]

from typing import Literal

from actors.interview.answers import near_duplicate
from actors.interview.language import language_pure
from actors.interview.quoting import quotable
from actors.interview.text import split_sentences, truncate
from actors.session import followups, speech
from actors.session.bank import BUILTIN_QUESTIONS, pick, seed_of
from actors.session.ctx import Ctx
from actors.session.plan import template_question
from actors.session.state import OnAir, Prepared
from bus.events import Start
from bus.jobs import EmbedJob, EmbedResult, Exchange, LlmDone, LlmJob, LlmSentence, Result

_OVER = ("closing", "reporting", "finished")


def begin_retrieval(ctx: Ctx, ev: Start) -> None:
    """Ingest the candidate's documents (if any), then search; the first question waits
    for the search (bounded by its deadline) so it can use the context."""
    st = ctx.st
    for text, kind in ((ev.resume_text, "resume"), (ev.job_posting, "posting")):
        if text.strip():
            job = EmbedJob(
                job_id=ctx.job_id(0, "embed", kind),
                session_id=st.session_id,
                op="ingest",
                language=ev.language,
                texts=[text],
                doc_kind=kind,
            )
            ctx.request(job, "embed", "ingest", ctx.cfg.deadline_ingest_s)
    if not ctx.live("ingest"):
        _search(ctx)


def _search(ctx: Ctx) -> None:
    st = ctx.st
    st.rag_stage = "search"
    job = EmbedJob(
        job_id=ctx.job_id(0, "embed", "search"),
        session_id=st.session_id,
        op="search",
        language=ctx.settings.language,
        query=ctx.settings.query,
        k=ctx.cfg.rag_k,
    )
    if not ctx.request(job, "embed", "search", ctx.cfg.deadline_embed_s):
        st.rag_stage = "done"


def on_embed(ctx: Ctx, purpose: Literal["ingest", "search"], result: Result | None) -> None:
    """Ingest done (or given up): search. Search done (or failed): go, with or without
    context."""
    st = ctx.st
    if purpose == "ingest":
        if st.rag_stage == "ingest" and not ctx.live("ingest"):
            _search(ctx)
        return
    if isinstance(result, EmbedResult):
        limit = ctx.cfg.context_chunk_chars
        st.context = [truncate(c, limit) for c in result.chunks[: ctx.cfg.rag_k] if c.strip()]
    st.rag_stage = "done"


def prefetch(ctx: Ctx) -> None:
    """Prepare the next main question as soon as the previous one's text is known.

    A question on a plan anchor (see :mod:`actors.session.plan`) is phrased by the LLM in
    the background; the first one, and any the LLM misses, use the anchor's template, so
    every planned question is grounded and the first is ready at once. Without an anchor
    the question comes from the role's bank (no model): on-role by construction."""
    st = ctx.st
    if st.settings is None or st.phase in ("idle", *_OVER) or st.ended_early:
        return
    if st.prepared is not None or st.main_planned >= st.settings.total:
        return
    if st.air is not None and st.air.kind == "main" and not st.air.complete:
        return
    if ctx.live("question"):
        return
    index = st.main_planned + 1
    if index > 1 and ctx.live("match"):
        return  # the plan may still change: the greeting and question 1 play meanwhile
    st.main_planned = index
    anchor = st.plan[index - 1] if index <= len(st.plan) else None
    prep = Prepared(index=index, llm_job=ctx.job_id(st.turn, "llm", f"q{index}"))
    st.prepared = prep
    if index == 1 and st.settings.practise:  # asked again, as the candidate chose it
        prep.llm_job, prep.source = "", "bank"
        speech.append(ctx, prep, split_sentences(st.settings.practise, limit=ctx.cfg.max_sentences))
        speech.finish_stream(ctx, prep)
        return
    if anchor is None and not ctx.cfg.llm_unplanned_questions:
        prep.llm_job = ""
        _bank_fill(ctx, prep)
        return
    # The LLM phrases experience and technical questions; a behaviour question keeps the
    # template (asked to phrase one, the model turned technologies into employers).
    phrase = st.settings.language in ctx.cfg.llm_phrasing.split(",") and (
        anchor is None or anchor.focus != "behaviour" or ctx.cfg.llm_behaviour
    )
    if anchor is not None and (index == 1 or not phrase):
        prep.llm_job = ""
        _template_fill(ctx, prep)
        return
    cfg = ctx.cfg
    if anchor is None:  # the LLM writes it, with the retrieved context
        if st.rag_stage != "done":
            st.main_planned, st.prepared = index - 1, None
            return
        job = _question_job(ctx, prep, context=list(st.context), history=list(st.history))
        timeout = cfg.deadline_llm_s if index == 1 else cfg.deadline_prefetch_s
        if not ctx.request(job, "llm", "question", timeout, ref=index):
            _bank_fill(ctx, prep)
        return
    job = _question_job(
        ctx,
        prep,
        anchor=quotable(anchor.line, anchor.term, 16),
        term=anchor.term,
        focus=anchor.focus,
    )
    if not ctx.request(job, "llm", "question", cfg.deadline_prefetch_s, ref=index):
        _template_fill(ctx, prep)


def _question_job(
    ctx: Ctx,
    prep: Prepared,
    *,
    context: list[str] | None = None,
    history: list[Exchange] | None = None,
    anchor: str = "",
    term: str = "",
    focus: str = "",
) -> LlmJob:
    """The LLM job phrasing main question ``prep.index``: from the retrieved context, or
    about a plan anchor."""
    st, s = ctx.st, ctx.settings
    return LlmJob(
        job_id=prep.llm_job,
        session_id=st.session_id,
        task="question",
        language=s.language,
        role=s.role,
        difficulty=s.difficulty,
        context=context or [],
        history=history or [],
        asked=[a for a in st.asked if a],
        max_tokens=ctx.cfg.question_max_tokens,
        anchor=anchor,
        term=term,
        focus=focus,
    )


def _template_fill(ctx: Ctx, prep: Prepared) -> None:
    st = ctx.st
    anchor = st.plan[prep.index - 1]
    prep.source = "template"
    prep.sentences = []
    text = template_question(anchor, ctx.settings.language)
    speech.append(ctx, prep, split_sentences(text, limit=ctx.cfg.max_sentences))
    speech.finish_stream(ctx, prep)


def _bank_fill(ctx: Ctx, prep: Prepared) -> None:
    st, s = ctx.st, ctx.settings
    seed = seed_of(f"{st.session_id}:{prep.index}")
    asked = [a for a in st.asked if a]
    q = None
    for attempt in range(8):  # skip a bank question that repeats one already asked
        q = pick(
            ctx.bank, s.language, s.role, s.difficulty, set(st.bank_used), seed + attempt
        ) or pick(BUILTIN_QUESTIONS, s.language, s.role, s.difficulty, set(st.bank_used), seed)
        if q is None:
            break
        if q.id not in st.bank_used:
            st.bank_used.append(q.id)
        if not any(near_duplicate(q.text, a) for a in asked):
            break
    text = q.text if q is not None else "?"
    if prep.llm_job:
        st.counters.bank_fallbacks += 1
    prep.source = "bank"
    prep.sentences = []
    speech.append(ctx, prep, split_sentences(text, limit=ctx.cfg.max_sentences))
    speech.finish_stream(ctx, prep)


def _usable_question(ctx: Ctx, prep: Prepared, text: str) -> bool:
    """An LLM-phrased planned question must name its anchor's term, be in the interview
    language, and not repeat a question already asked."""
    st = ctx.st
    if not text.strip() or not 0 < prep.index <= len(st.plan):
        return False
    term = st.plan[prep.index - 1].term
    if term.casefold() not in text.casefold():
        return False
    if not language_pure(text, ctx.settings.language):
        return False
    return not any(near_duplicate(text, a) for a in st.asked if a)


def ready(prep: Prepared) -> bool:
    return prep.complete or any(s.shown for s in prep.sentences)


def on_llm(
    ctx: Ctx, job_id: str, purpose: Literal["question", "followup"], result: Result | None
) -> None:
    """A phrased question or a streamed follow-up (``None``: failed or expired).

    A planned main question is taken whole from ``LlmDone`` and checked
    (:func:`_usable_question`); otherwise its template is used. A follow-up already holds
    its opening sentence (the quote); the LLM's question streams after it, and when the
    LLM gives none the gap's template question ends it."""
    st = ctx.st
    stream = next(
        (s for s in (st.prepared, st.followup, st.air) if s is not None and s.llm_job == job_id),
        None,
    )
    if stream is None:
        return
    if stream is st.prepared and 0 < stream.index <= len(st.plan):
        if isinstance(result, LlmSentence):
            return  # a prepared question is checked as a whole
        text = " ".join(result.text.split()) if isinstance(result, LlmDone) else ""
        if _usable_question(ctx, stream, text):
            stream.source = "llm"
            stream.sentences = []
            speech.append(ctx, stream, split_sentences(text, limit=ctx.cfg.max_sentences))
            speech.finish_stream(ctx, stream)
        else:
            _template_fill(ctx, stream)
        return
    if stream is st.prepared or (stream is st.air and stream.kind == "main"):
        _on_free_question(ctx, stream, result)
        return
    if isinstance(result, LlmSentence):
        if result.index >= stream.next_llm_index and result.text.strip():
            stream.next_llm_index = result.index + 1
            _followup_sentences(ctx, stream, [result.text.strip()])
        return
    if isinstance(result, LlmDone) and stream.next_llm_index == 0 and result.text.strip():
        stream.next_llm_index = 1
        texts = split_sentences(result.text, limit=ctx.cfg.max_sentences)
        _followup_sentences(ctx, stream, texts)
    if stream.kept == 0:
        speech.append(ctx, stream, [followups.fallback_question(ctx.settings.language, stream)])
    speech.finish_stream(ctx, stream)


def _followup_sentences(ctx: Ctx, stream: OnAir | Prepared, texts: list[str]) -> None:
    """Take the LLM's follow-up sentences that stay on the question and the answer (a
    technology neither of them names means the model drifted off the topic)."""
    st = ctx.st
    answer = st.answers[-1].answer if st.answers else ""
    for text in texts:
        if followups.on_topic(text, st.current.text, answer):
            stream.kept += 1
            speech.append(ctx, stream, [text])


def _on_free_question(ctx: Ctx, stream: OnAir | Prepared, result: Result | None) -> None:
    """An unplanned LLM question streams sentence by sentence; a failure before any text
    falls back to the bank."""
    st = ctx.st
    if isinstance(result, LlmSentence):
        if result.index >= stream.next_llm_index and result.text.strip():
            stream.next_llm_index = result.index + 1
            speech.append(ctx, stream, [result.text.strip()])
        return
    if isinstance(result, LlmDone) and not any(s.shown for s in stream.sentences):
        speech.append(ctx, stream, split_sentences(result.text, limit=ctx.cfg.max_sentences))
    if any(s.shown for s in stream.sentences):
        speech.finish_stream(ctx, stream)
    elif stream is st.prepared:
        _bank_fill(ctx, stream)


def take_prepared(ctx: Ctx, *, followup: bool = False) -> Prepared | None:
    """The prepared question (or follow-up) if it can go on air now; otherwise hurry the
    main question up. Nothing goes on air while the session is paused."""
    st = ctx.st
    prep = st.followup if followup else st.prepared
    if st.live.paused or prep is None:
        return None
    if not ready(prep):
        if not followup:
            ctx.tighten(prep.llm_job, ctx.cfg.llm_wait_s)
        return None
    return prep
