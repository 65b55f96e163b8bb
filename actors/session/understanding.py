"""Understanding in front of the rules: what the embedding model reads in the documents and
in each answer, requested as jobs and folded into the plan and the assessment.

- ``match`` (at ``start``): how close in meaning each must-have of the posting is to each
  claim of the résumé ("event streaming" ↔ "built a Kafka pipeline"). Matches at or above
  ``CoreConfig.match_similarity`` revise the plan for the questions not yet prepared; the
  second main question waits for it (bounded by ``deadline_match_s``), the first never does.
- ``claims`` (at ``start``, the LLM, in the background): which claims are most worth asking
  about, with a kind and a topic copied from each; picks go first in the plan of the
  questions not yet prepared.
- ``analyse`` (after each answer): which sentences talk to the grader (a classifier over the
  embedding, beside the word list) and how close the rest is to the question and its résumé
  line. :func:`analysis_of` turns the result into an :class:`~actors.session.state.Analysis`;
  without a result (late, failed) the word list alone decides and relevance is unmeasured.

Pure: thresholds come from :class:`~actors.session.config.CoreConfig`, numbers from results.
"""

from __future__ import annotations

__all__ = [
    "analysing",
    "analysis_job",
    "analysis_of",
    "on_claims",
    "on_match",
    "request_analysis",
    "request_claims",
    "request_match",
]

import msgspec

from actors.interview.answers import answer_sentences, grader_directed
from actors.interview.language import has_hangul
from actors.interview.picks import parse_picks
from actors.session.bank import seed_of
from actors.session.config import CoreConfig
from actors.session.ctx import Ctx
from actors.session.plan import make_plan
from actors.session.state import Analysis
from bus.jobs import RELATE_MAX, EmbedJob, EmbedResult, LlmDone, LlmJob, Result

#: Sentences a ``claims`` job shows the LLM (actors.models.llm.claims.MAX_SENTENCES).
MAX_SENTENCES = 24

_MATCH_REQS = 24


def _match_sets(ctx: Ctx) -> tuple[list[int], list[int]]:
    """(requirement indices, claim indices) a match job compares, the same on every call."""
    docs = ctx.st.docs
    if docs is None:
        return [], []
    reqs = [i for i, r in enumerate(docs.requirements) if r.must][:_MATCH_REQS]
    claims = [i for i, c in enumerate(docs.claims) if not c.listing][:RELATE_MAX]
    return reqs, claims


def request_match(ctx: Ctx) -> None:
    """Ask the embedding model to match the posting's must-haves to the résumé's claims."""
    st = ctx.st
    reqs, claims = _match_sets(ctx)
    if st.docs is None or not reqs or not claims:
        return
    job = EmbedJob(
        job_id=ctx.job_id(0, "embed", "match"),
        session_id=st.session_id,
        op="relate",
        language=ctx.settings.language,
        texts=[st.docs.claims[i].text for i in claims],  # what was done (passages)
        refs=[st.docs.requirements[i].text for i in reqs],  # what is asked for (queries)
    )
    ctx.request(job, "embed", "match", ctx.cfg.deadline_match_s)


def on_match(ctx: Ctx, result: Result | None) -> None:
    """Keep the matches and revise the plan after the questions already prepared."""
    st = ctx.st
    if not isinstance(result, EmbedResult) or st.docs is None or st.settings is None:
        return
    reqs, claims = _match_sets(ctx)
    rows = result.similarity
    if len(rows) != len(claims) or any(len(row) != len(reqs) for row in rows):
        return  # not the comparison that was asked for: keep the rules' plan
    matches: dict[int, int] = {}
    for j, r_i in enumerate(reqs):
        best = max(range(len(claims)), key=lambda i: rows[i][j])
        if rows[best][j] >= ctx.cfg.match_similarity:
            matches[r_i] = claims[best]
    st.matches = matches
    if matches:
        _replan(ctx)


def _replan(ctx: Ctx) -> None:
    """The plan again with what the models read, after the questions already prepared."""
    st = ctx.st
    if st.docs is None or st.settings is None:
        return
    st.plan = make_plan(
        st.docs,
        st.settings.total,
        seed=seed_of(st.session_id),
        matches=st.matches,
        preferred=st.preferred,
        keep=st.plan[: st.main_planned],
    )


def _claim_sets(ctx: Ctx) -> list[int]:
    """The claim indices a ``claims`` job shows the LLM (its sentence numbers), the same
    on every call."""
    docs = ctx.st.docs
    if docs is None:
        return []
    return [i for i, c in enumerate(docs.claims) if not c.listing][:MAX_SENTENCES]


def request_claims(ctx: Ctx) -> None:
    """Ask the LLM, in the background, which claims are most worth asking about (only when
    there is a choice to make)."""
    st = ctx.st
    shown = _claim_sets(ctx)
    if st.docs is None or len(shown) <= ctx.settings.total or not ctx.cfg.llm_claims:
        return
    job = LlmJob(
        job_id=ctx.job_id(0, "llm", "claims"),
        session_id=st.session_id,
        task="claims",
        language=ctx.settings.language,
        role=ctx.settings.role,
        difficulty=ctx.settings.difficulty,
        context=[st.docs.claims[i].text for i in shown],
        max_tokens=200,
    )
    ctx.request(job, "assess", "claims", ctx.cfg.deadline_claims_s)


def on_claims(ctx: Ctx, result: Result | None) -> None:
    """Take the LLM's picks that check out against the sentences sent: they go first in
    the plan (a pick the model calls leadership counts as one about people), and a topic
    it copied from its sentence becomes what the question names."""
    st = ctx.st
    if not isinstance(result, LlmDone) or st.docs is None:
        return
    shown = _claim_sets(ctx)
    picks = parse_picks(result.text, [st.docs.claims[i].text for i in shown])
    if not picks:
        return
    claims = list(st.docs.claims)
    for p in picks:
        c = claims[shown[p.n]]
        # the model's "leadership" counts only for a claim that says what was done
        people = c.people or (p.kind == "leadership" and c.action)
        claims[shown[p.n]] = msgspec.structs.replace(c, people=people, topic=p.topic or c.topic)
    st.docs = msgspec.structs.replace(st.docs, claims=claims)
    st.preferred = [shown[p.n] for p in picks]
    _replan(ctx)


def analysis_job(
    job_id: str, session_id: str, language: str, question: str, anchor_line: str, answer: str
) -> EmbedJob | None:
    """The ``relate`` job that reads ``answer`` (None when it has no sentence): each
    sentence and the whole answer against the question and the résumé line it is about,
    with grader probabilities."""
    sentences = answer_sentences(answer)
    if not sentences:
        return None
    return EmbedJob(
        job_id=job_id,
        session_id=session_id,
        op="relate",
        language=language,
        texts=[*sentences[: RELATE_MAX - 1], answer],
        refs=[question] + ([anchor_line] if anchor_line else []),
        grader=True,
    )


def request_analysis(ctx: Ctx, ref: int) -> bool:
    """Ask the embedding model to read answer ``ref``; False when it cannot be asked."""
    st = ctx.st
    rec = st.answers[ref]
    job_id = ctx.job_id(rec.turn, "embed", "analyse")
    job = analysis_job(
        job_id, st.session_id, rec.language, rec.question, rec.anchor_line, rec.answer
    )
    if job is None:
        return False
    return ctx.request(job, "embed", "analyse", ctx.cfg.deadline_analyse_s, ref=ref)


def analysing(ctx: Ctx, ref: int) -> bool:
    """True while answer ``ref`` is being read and a follow-up should still wait for it
    (``CoreConfig.analyse_wait_s``)."""
    wait = ctx.cfg.analyse_wait_s
    return any(
        j.purpose == "analyse" and j.ref == ref and ctx.t < j.requested_at + wait
        for j in ctx.st.jobs.values()
    )


def analysis_of(cfg: CoreConfig, answer: str, result: Result | None) -> Analysis:
    """The :class:`Analysis` of ``answer`` from its ``analyse`` result (``None``: the word
    list alone, relevance not measured)."""
    sentences = answer_sentences(answer)[: RELATE_MAX - 1]
    probs = result.grader if isinstance(result, EmbedResult) else []
    grader = [
        i
        for i, s in enumerate(sentences)
        if grader_directed(s) or (i < len(probs) and probs[i] >= cfg.grader_probability)
    ]
    similarity: float | None = None
    rows = result.similarity if isinstance(result, EmbedResult) else []
    if len(rows) == len(sentences) + 1 and rows[-1]:
        # the whole answer against the question and its résumé line (text to the grader
        # caps relevance anyway, so it is not taken out first)
        similarity = round(max(rows[-1]), 4)
    # a very short answer says too little to tell (the thin-answer rules judge it)
    short = len(answer.replace(" ", "")) < 30 if has_hangul(answer) else len(answer.split()) < 12
    on_topic = similarity is None or short or similarity >= cfg.relevance_similarity
    return Analysis(sentences=sentences, grader=grader, similarity=similarity, on_topic=on_topic)
