"""The question plan: one anchor per main question, each on a different claim of the résumé
or requirement of the posting, each phrased its own way.

:func:`make_plan` picks up to ``n`` anchors from :class:`~actors.interview.documents.Documents`,
mixing ``experience`` (a claim with an action and a result), ``technical`` (a claim that
shows a requirement of the posting, or a requirement the résumé does not show) and
``behaviour`` (a claim about working with people). Every anchor is a different claim with a
different term; an employer-name-only anchor is used only when the documents hold nothing
else. What understands the documents comes in front of the text rules when it is in:
``matches`` (requirement → claim by meaning, from the embedding model) and ``preferred``
(the claims the LLM picked as most worth asking about); without them the rules alone
decide, so the plan is ready at ``start``. ``keep`` holds anchors already asked or
prepared: a revised plan continues after them.

:func:`template_question` phrases a question about an anchor with no model: one of several
phrasings per focus and language (:mod:`actors.session.question_templates`), chosen per
session by ``seed`` and never the same one twice in a plan. The LLM may phrase it more
naturally, but must name the anchor's ``term`` (checked by the caller).
"""

from __future__ import annotations

__all__ = ["Anchor", "Focus", "make_plan", "template_question"]

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Literal

import msgspec

from actors.interview.documents import Claim, Documents
from actors.interview.language import has_hangul, lang_of
from actors.interview.lexicon import numbers_in
from actors.interview.quoting import key_phrase, quotable
from actors.session.question_templates import TEMPLATES

Focus = Literal["experience", "technical", "behaviour"]

#: How much the LLM's choice of a claim counts against the rules' score (first pick). The
#: 1.5B model's picks are plausible but noisy (a job heading picked as "leadership", kinds
#: often wrong; docs/quality.md), so they break ties rather than overrule the rules.
_PREFERRED_BONUS = 1.0
_QUOTE_WORDS = 16
_QUOTE_WORDS_KO = 20  # 어절 are longer units; a Korean sentence has fewer of them


class Anchor(msgspec.Struct, frozen=True, kw_only=True):
    """What one main question is about. ``term`` must appear in the question; ``line`` is
    the claim (or posting line) it comes from, the document's own words; ``source``:
    resume, posting or bank. ``need``: the posting's requirement the claim shows (or, for a
    posting anchor, the requirement itself). ``phrasing``: the template chosen for it
    (``key:variant``). ``claim``: the claim's position in the documents (-1: none)."""

    index: int
    focus: Focus
    term: str
    line: str
    source: str
    employer: str = ""
    need: str = ""
    kind: str = ""
    phrasing: str = ""
    claim: int = -1


def _name_matches(docs: Documents) -> dict[int, int]:
    """Requirement → claim by a technology both name (the rules' matching)."""
    out: dict[int, int] = {}
    for r_i, req in enumerate(docs.requirements):
        names = {t.casefold() for t in req.techs}
        if not names:
            continue
        best = max(
            (
                (c.score, -c_i)
                for c_i, c in enumerate(docs.claims)
                if names & {t.casefold() for t in c.techs}
            ),
            default=None,
        )
        if best is not None:
            out[r_i] = -best[1]
    return out


def _term(claim: Claim, prefer: Sequence[str] = (), avoid: Collection[str] = ()) -> str:
    """What a question about ``claim`` names: a technology the posting asks for, else the
    topic the model copied from it, else a technology, the object of its action, a number,
    its employer; never one of ``avoid`` (casefolded terms other questions name). "" when
    nothing is left."""
    wanted = {p.casefold() for p in prefer}
    options = [t for t in claim.techs if t.casefold() in wanted]
    if claim.topic and claim.topic.casefold() in claim.text.casefold():
        options.append(claim.topic)  # what the model said the claim is about
    if not claim.listing:
        options += claim.techs
    options += [key_phrase(claim.text), *claim.numbers, *claim.techs, claim.employer]
    return next((o for o in options if o and o.casefold() not in avoid), "")


def make_plan(
    docs: Documents,
    n: int,
    *,
    seed: int = 0,
    matches: Mapping[int, int] | None = None,
    preferred: Sequence[int] = (),
    keep: Sequence[Anchor] = (),
) -> list[Anchor]:
    """Up to ``n`` anchors: ``keep`` first, then new ones on different claims, in the
    order experience, technical, behaviour (continuing the rotation after ``keep``).
    ``matches``: requirement index → claim index found by meaning (merged over the
    rules' name matches); ``preferred``: claim indices the model picked, best first."""
    claims = docs.claims
    reqs = docs.requirements
    musts = [i for i, r in enumerate(reqs) if r.must] or list(range(len(reqs)))
    linked = {**_name_matches(docs), **(matches or {})}
    claim_need: dict[int, int] = {}
    for r_i in musts:
        c_i = linked.get(r_i)
        if c_i is not None and 0 <= c_i < len(claims):
            claim_need.setdefault(c_i, r_i)
    bonus = {c: _PREFERRED_BONUS - 0.3 * k for k, c in enumerate(preferred) if 0 <= c < len(claims)}
    must_techs = [t for r in musts for t in reqs[r].techs]

    plan: list[Anchor] = list(keep[:n])
    used_claims = {a.claim for a in plan if a.claim >= 0}
    used_lines = {a.line for a in plan}
    used_terms = {a.term.casefold() for a in plan}
    used_reqs = {r for r in range(len(reqs)) if any(a.need == reqs[r].need for a in plan)}
    used_employers = {a.employer for a in plan if a.kind == "employer"}

    def free(c_i: int) -> bool:
        c = claims[c_i]
        return c_i not in used_claims and c.text not in used_lines and not c.listing

    def rank(c_i: int) -> float:
        return claims[c_i].score + bonus.get(c_i, 0.0) + (1.0 if c_i in claim_need else 0.0)

    def best(ok: Callable[[Claim], bool], exclude_need: bool = False) -> int | None:
        pool = [
            i
            for i in range(len(claims))
            if free(i) and ok(claims[i]) and not (exclude_need and i in claim_need)
        ]
        pool = [i for i in pool if _term(claims[i], must_techs, used_terms)]
        return max(pool, key=lambda i: (rank(i), -i)) if pool else None

    def on_claim(c_i: int, focus: Focus, need: str = "") -> Anchor:
        c = claims[c_i]
        prefer = [*reqs[claim_need[c_i]].techs] if c_i in claim_need else must_techs
        return Anchor(
            index=0,
            focus=focus,
            term=_term(c, prefer, used_terms),
            line=c.text,
            source="resume",
            employer=c.employer,
            need=need,
            kind=c.kind,
            claim=c_i,
        )

    def experience() -> Anchor | None:
        # a claim that shows a requirement is kept for the technical question, one about
        # people for the behaviour question
        c_i = best(
            lambda c: c.action and not c.people and (bool(c.numbers) or c.result),
            exclude_need=True,
        )
        c_i = (
            c_i
            if c_i is not None
            else best(lambda c: c.action and (bool(c.numbers) or c.result), exclude_need=True)
        )
        c_i = c_i if c_i is not None else best(lambda c: c.action, exclude_need=True)
        c_i = c_i if c_i is not None else best(lambda c: c.action)
        c_i = c_i if c_i is not None else best(lambda c: True, exclude_need=True)
        return on_claim(c_i, "experience") if c_i is not None else None

    def technical() -> Anchor | None:
        shown = [c for c in claim_need if free(c) and claim_need[c] not in used_reqs]
        shown = [c for c in shown if _term(claims[c], must_techs, used_terms)]
        if shown:
            c_i = max(shown, key=lambda i: (rank(i), -i))
            return on_claim(c_i, "technical", reqs[claim_need[c_i]].need)
        for r_i in musts:
            req = reqs[r_i]
            if r_i in used_reqs or r_i in linked:
                continue
            term = req.techs[0] if req.techs else req.need
            if term.casefold() in used_terms:
                continue
            return Anchor(
                index=0,
                focus="technical",
                term=term,
                line=req.text,
                source="posting",
                need=req.need,
                kind="requirement",
            )
        tech = best(lambda c: bool(c.techs) and not c.people)  # people: the behaviour one
        tech = tech if tech is not None else best(lambda c: bool(c.techs))
        return on_claim(tech, "technical") if tech is not None else None

    def behaviour() -> Anchor | None:
        c_i = best(lambda c: c.people)
        c_i = c_i if c_i is not None else best(lambda c: c.action and bool(c.employer))
        if c_i is not None:
            return on_claim(c_i, "behaviour")
        return None

    def employer_only() -> Anchor | None:
        for emp in docs.employers:
            if emp in used_employers or emp.casefold() in used_terms:
                continue
            return Anchor(
                index=0,
                focus="behaviour",
                term=emp,
                line=emp,
                source="resume",
                employer=emp,
                kind="employer",
            )
        return None

    order = (experience, technical, behaviour)
    k = len(plan)
    misses = 0
    while len(plan) < n and misses < len(order):
        a = order[k % len(order)]()
        k += 1
        if a is None:
            misses += 1
            continue
        misses = 0
        plan.append(a)
        _use(a, used_claims, used_lines, used_terms)
        if a.source == "posting":
            used_reqs.add(next(i for i, r in enumerate(reqs) if r.text == a.line))
        elif a.need:
            used_reqs.add(claim_need[a.claim])
    while len(plan) < n:  # nothing substantive left: an employer, if the résumé has one
        a = employer_only()
        if a is None:
            break
        plan.append(a)
        used_employers.add(a.employer)
        used_terms.add(a.term.casefold())
    return _phrase(plan, seed, len(keep))


def _use(a: Anchor, claims: set[int], lines: set[str], terms: set[str]) -> None:
    claims.add(a.claim)
    lines.add(a.line)
    terms.add(a.term.casefold())


def _key(a: Anchor) -> str:
    if a.kind == "employer":
        return "behaviour_employer"
    if a.focus == "technical":
        if a.source == "posting":
            return "technical_posting"
        return "technical_need" if a.need else "technical"
    if a.focus == "behaviour":
        return "behaviour" if a.kind == "leadership" else "behaviour_work"
    return "experience"


def _phrase(plan: list[Anchor], seed: int, fixed: int) -> list[Anchor]:
    """Number the anchors and give each new one a phrasing: variant ``seed``-rotated, never
    one already used in the plan (when a key's variants run out, the least used)."""
    used: dict[str, int] = {}
    for a in plan[:fixed]:
        if a.phrasing:
            used[a.phrasing] = used.get(a.phrasing, 0) + 1
    out: list[Anchor] = []
    for i, a in enumerate(plan):
        if i < fixed and a.phrasing:
            out.append(msgspec.structs.replace(a, index=i + 1))
            continue
        key = _key(a)
        count = len(TEMPLATES["en"][key])
        options = [f"{key}:{(seed + i + j) % count}" for j in range(count)]
        phrasing = min(options, key=lambda p: (used.get(p, 0), options.index(p)))
        used[phrasing] = used.get(phrasing, 0) + 1
        out.append(msgspec.structs.replace(a, index=i + 1, phrasing=phrasing))
    return out


def template_question(anchor: Anchor, language: str) -> str:
    """A question about ``anchor`` with no model: its phrasing (or the first of its key),
    naming the term and quoting the claim at phrase boundaries."""
    lang = lang_of(language)
    key, _, variant = (anchor.phrasing or _key(anchor)).partition(":")
    table = TEMPLATES[lang]
    if key not in table:
        key = _key(anchor)
    variants = table[key]
    text = variants[int(variant) % len(variants) if variant.isdigit() else 0]
    # an experience question asks how the result was measured: quote the result's figure
    figures = numbers_in(anchor.line)  # a quantity, never a year
    figure = figures[0].split()[0] if figures else ""
    seed = figure if anchor.focus == "experience" and figure else anchor.term
    quote = quotable(
        anchor.line, seed, _QUOTE_WORDS_KO if has_hangul(anchor.line) else _QUOTE_WORDS
    )
    need = anchor.need or anchor.term
    return text.format(quote=quote, term=anchor.term, need=need, employer=anchor.employer)
