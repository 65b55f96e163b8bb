"""The quality benchmark's figures, each decided by a rule a reader can check.

Kept apart from the interviewer's own rules where it matters: "substantively grounded" is
judged against the documents' own words (a run of four words, three Korean 어절, shared
with the résumé or the posting, or a technology or figure of a hand-listed claim), not by
the plan's reading of them; near-duplicates compare the questions with their quotes taken
out (the same template about two employers is one question asked twice).
"""

from __future__ import annotations

__all__ = [
    "follow_up_problem",
    "near_duplicate_pairs",
    "quoted",
    "strength_problem",
    "substantive",
]

import re
from collections.abc import Iterator, Sequence

from actors.interview.answers import near_duplicate
from actors.interview.language import has_hangul
from actors.interview.lexicon import TECH_TERMS
from bench.quality_cases import Profile

_QUOTE = re.compile(r"[“\"]([^”\"]{2,300})[”\"]")
_TOKEN = re.compile(r"[0-9A-Za-z가-힣+#.%/-]+")
_FIGURE = re.compile(r"\d")
_NEGATED = re.compile(
    r"\b(never|not|no|didn't|don't|wasn't|haven't|couldn't)\b|없었|없습니다|않았|못했", re.I
)
_SCORING = re.compile(
    r"\b(score|grade|rating|rubric|evaluat\w*|grader|marks?|approved?)\b|점수|평가|채점|만점|합격",
    re.I,
)
_CODE = re.compile(r"\b(select|insert|update)\b.+\b(from|into|set)\b|[{};]|=>|\w\(\)", re.I)
_NUMBER_STRENGTH = re.compile(r"with a number|수치로")


def quoted(text: str) -> Iterator[str]:
    for m in _QUOTE.finditer(text):
        yield m.group(1)


def _norm_tokens(text: str) -> list[str]:
    return [t.strip(".,").lower() for t in _TOKEN.findall(text) if t.strip(".,")]


def _runs(text: str, n: int) -> set[tuple[str, ...]]:
    toks = _norm_tokens(text)
    return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def substantive(question: str, profile: Profile) -> bool:
    """The question names something specific the candidate did or the posting needs: it
    shares a run of 4 words (Korean: 3 어절) with the résumé or posting, or names a
    technology or a figure of a hand-listed claim (or of the posting)."""
    docs = f"{profile.resume}\n{profile.posting}"
    if not docs.strip():
        return False
    n = 3 if has_hangul(question) or has_hangul(docs) else 4
    if _runs(question, n) & _runs(docs, n):
        return True
    specific = " ".join(c.span for c in profile.claims) + " " + profile.posting
    names = {m.group(1).casefold() for m in TECH_TERMS.finditer(specific)}
    names |= {t.casefold() for t in profile.terms if not _employer_term(t, profile)}
    figures = {t for t in _norm_tokens(specific) if _FIGURE.search(t) and len(t) > 1}
    q = question.casefold()
    if any(re.search(rf"(?<![\w]){re.escape(nm)}(?![\w])", q) for nm in names):
        return True
    return any(f in _norm_tokens(question) for f in figures)


def _employer_term(term: str, profile: Profile) -> bool:
    """A hand-listed term that is an employer (it stands on a line with a year)."""
    return any(
        term in line and re.search(r"(19|20)\d\d", line) for line in profile.resume.split("\n")
    )


def _skeleton(question: str) -> str:
    text = _QUOTE.sub(" ", question)
    if not has_hangul(text):
        text = re.sub(r"\b[A-Z][\w&.-]*", " ", text)  # names: employers, technologies
    return " ".join(text.split())


def near_duplicate_pairs(mains: Sequence[str]) -> int:
    """Pairs of main questions that are the same question once their quotes and names are
    taken out."""
    sk = [_skeleton(q) for q in mains]
    return sum(
        1 for i in range(len(sk)) for j in range(i + 1, len(sk)) if near_duplicate(sk[i], sk[j])
    )


def _in(phrase: str, text: str) -> bool:
    def norm(t: str) -> str:
        return " ".join(re.sub(r"[\"'“”‘’.,!?]", " ", t).lower().split())

    return norm(phrase) in norm(text)


def strength_problem(strength: str, answer: str) -> str:
    """Why a strength praises something that is not a claim of the candidate's own ("" if
    it is fine): its quote is not in the answer, is a denial, talks about scores, or a
    number strength whose quote has no figure."""
    for q in quoted(strength):
        if not _in(q, answer):
            return "not in the answer"
        if _NEGATED.search(q):
            return "a denial"
        if _SCORING.search(q):
            return "about scores"
        if (
            _NUMBER_STRENGTH.search(strength)
            and not _FIGURE.search(q)
            and not re.search(r"twice|double|half|배|절반", q)
        ):
            return "a number strength without a figure"
    return ""


def follow_up_problem(question: str, answer: str, grader_text: str = "") -> str:
    """Why a follow-up quotes something it should not ("" if fine): text addressed to the
    grader, a sentence about scores, or code."""
    for q in quoted(question):
        if grader_text and _in(q, grader_text):
            return "quotes text to the grader"
        if _SCORING.search(q):
            return "quotes scoring talk"
        if _CODE.search(q):
            return "quotes code"
    return ""
