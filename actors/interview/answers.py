"""Deterministic rules on interview text: what an answer lacks, which phrase of it to quote,
whether it talks to the grader, whether a sentence is in the right language, whether two
questions are near-duplicates.

Pure functions (no I/O, no model): the session core decides with them at once, and the LLM
engine and the quality benchmark use the same definitions, so what is measured is what runs.
"""

from __future__ import annotations

__all__ = [
    "FOLLOWUP_MIN_WORDS",
    "answer_sentences",
    "followup_gaps",
    "grader_directed",
    "metric_phrase",
    "near_duplicate",
    "own_action_phrase",
    "pick_quote",
    "quote_in",
    "repeated_answer",
]

import re
from collections.abc import Iterable

from actors.interview.language import HANGUL, lang_of
from actors.interview.lexicon import TECH_TERMS, acts
from actors.interview.quoting import quotable
from actors.interview.text import split_sentences

#: Answers shorter than this (words) always lack detail.
FOLLOWUP_MIN_WORDS = 8

_METRIC = re.compile(
    r"\d|%|percent|퍼센트|\b(twice|double[ds]?|half|halved|tripled|hundreds?|thousands?|"
    r"millions?|one|two|three|four|five|six|seven|eight|nine|ten)\b|두\s?배|세\s?배|절반",
    re.IGNORECASE,
)
_RESULT = re.compile(
    r"\b(result(ed|s)?|reduc\w*|increas\w*|improv\w*|sav(ed|ing)|cut|dropp\w*|grew|"
    r"faster|slower|fewer|outcome|led to|so that)\b|결과|줄었|줄였|늘었|늘렸|개선|향상|감소|증가|"
    r"단축|절감|빨라|달성",
    re.IGNORECASE,
)
_OWN_ACTION_EN = re.compile(r"\b(I|I'm|I've|I'd|my|me)\b")
_OWN_ACTION_KO = re.compile(r"제가|저는|직접|맡아|맡았|담당|주도")


def followup_gaps(answer: str, language: str) -> list[str]:
    """What an answer is missing: ``example`` (under 8 words, or under 20 words without a
    number), ``actions`` (an English answer with no first person), ``result`` (no number
    and no result wording). An empty list means no follow-up is needed."""
    words = answer.split()
    if len(words) < FOLLOWUP_MIN_WORDS:
        return ["example", "actions", "result"]
    gaps: list[str] = []
    metric = _METRIC.search(answer) is not None
    if len(words) < 20 and not metric:
        gaps.append("example")
    if lang_of(language) == "en" and _OWN_ACTION_EN.search(answer) is None:
        gaps.append("actions")  # Korean drops the subject, so this test is English only
    if not metric and _RESULT.search(answer) is None:
        gaps.append("result")
    return gaps


# --- the phrase to quote ------------------------------------------------------------------

# Clauses end at punctuation, but not at a decimal point or a thousands separator.
_CLAUSE_END = re.compile(
    r"(?<!\d)(?<!\b[ap]\.m)(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\b[apAP])[.,](?!\d)(?![mgeMG]\.)"
    r"|(?<=\d)[.,](?=\s|$)|(?<!\d):|:(?!\d)|[?!;。？！\n]"
)
_TECH = re.compile(
    r"(?<![A-Za-z])([A-Z][a-z]+[A-Z][A-Za-z]+|[A-Z]{2,6}[0-9]?)(?![A-Za-z])|" + TECH_TERMS.pattern
)
_FILLER = re.compile(
    r"^(well|so|um+|uh+|yeah|yes|i think|honestly|basically|actually|and|but|then|also)\b[\s,]*",
    re.IGNORECASE,
)
# Clauses about scoring or instructions are never quoted back as experience.
_ASK = re.compile(
    r"\b(score\w*|grade[sd]?|grading|rate|rating|points?|evaluat\w*|assess\w*|instruction\w*|"
    r"prompt|rubric|marks?|grader|evaluator|reviewer|praise)\b|점수|평가|채점|만점|면접관|지시|"
    r"프롬프트|기준|합격|리포트|피드백|(?-i:(?<![A-Za-z])AI(?![A-Za-z]))",
    re.IGNORECASE,
)
_CODE = re.compile(
    r"\b(?:select|insert|update|delete)\b.{1,80}\b(?:from|into|set|where)\b|[{}]|;\s*$|"
    r"\w+\([^)]*\)|=>|::|==|!=|</?\w+>|`",
    re.IGNORECASE,
)
_NEGATED = re.compile(
    r"\b(?:never|not|no|none|nothing|didn't|don't|doesn't|wasn't|weren't|haven't|hasn't|"
    r"couldn't|can't|cannot|won't)\b|없었|없습니다|없어|않았|않습니다|않아|못했|못 했|안 했",
    re.IGNORECASE,
)
# A stated figure: digits (with a unit or not), or spelled-out multiples.
_QUANTITY = re.compile(
    r"\d[\d,.]*\s*(?:%|퍼센트|percent|[A-Za-z가-힣]+)?|\b(?:twice|doubled|tripled|halved|"
    r"half|three times|ten times)\b|두\s?배|세\s?배|절반",
    re.IGNORECASE,
)
# A change that a figure measures (stricter than _RESULT: "results by 7 a.m." is none).
_CHANGE = re.compile(
    r"\b(reduc\w*|increas\w*|improv\w*|sav(ed|ing)|cut|drop\w*|grew|rose|fell|doubled|"
    r"halved|tripled|faster|slower|fewer|lower\w*|higher|rais\w*|boost\w*|shrank|down to|"
    r"up to|went from|brought\w* down)\b|줄었|줄였|줄임|늘었|늘렸|늘림|개선|향상|감소|증가|단축|"
    r"절감|빨라|높였|낮췄|올렸|올랐",
    re.IGNORECASE,
)
_FROM_TO = re.compile(
    r"\bfrom\b.{0,30}\d.{0,30}\bto\b.{0,20}\d|\d.{0,20}에서.{0,20}\d.{0,10}(?:로|으로)"
)
_PERCENT = re.compile(r"\d\s*(?:%|퍼센트|percent|x\b|배)", re.IGNORECASE)
_NOTE_SPLIT = re.compile(r"(?<=[\]】])\s+|\s+(?=[\[【])")


_CONJ = re.compile(r"\s(?:and|but|so|because|which|while)\s|(?<=[고며서])\s", re.IGNORECASE)


def _clauses(answer: str, max_words: int = 10) -> list[str]:
    out: list[str] = []
    for raw in _CLAUSE_END.split(answer):
        c = _FILLER.sub("", raw.strip()).strip(" \"'“”‘’")
        if not c:
            continue
        parts = _CONJ.split(c) if len(c.split()) > max_words else [c]
        out.extend(p.strip() for p in parts if p.strip())
    return out


def _code(text: str) -> bool:
    """Text that reads as code or a query (an SQL fragment, braces, calls), not experience."""
    return _CODE.search(text) is not None


def _usable(clause: str) -> bool:
    """A clause that may be quoted back as what the candidate did or said."""
    return len(clause.split()) >= 2 and not _ASK.search(clause) and not _code(clause)


def _cut(clause: str, keep: str, max_words: int) -> str:
    """``clause`` cut to ``max_words`` at word boundaries around ``keep``."""
    return quotable(clause, keep, max_words) if len(clause.split()) > max_words else clause


def pick_quote(answer: str, language: str, max_words: int = 10) -> str:
    """A short phrase copied verbatim from ``answer`` worth asking about ("" if none).

    Prefers a clause naming a technology, a number or the candidate's own action; never
    one that talks about scores or instructions or reads as code, and a denial ("I never
    ...") only when nothing better is there. The phrase is at most ``max_words`` words
    (Korean: eojeol), cut at word boundaries, and always a substring of the answer, so a
    follow-up that quotes it refers to what was really said."""
    best, best_score = "", 0.0
    lang = lang_of(language)
    own = _OWN_ACTION_EN if lang == "en" else _OWN_ACTION_KO
    for clause in _clauses(answer, max_words):
        if not _usable(clause):
            continue
        words = clause.split()
        score = 1.0
        score += 2.0 if _TECH.search(clause) else 0.0
        score += 1.5 if _METRIC.search(clause) else 0.0
        score += 1.0 if own.search(clause) else 0.0
        score += min(len(words), 6) / 6.0
        score -= 1.5 if _NEGATED.search(clause) else 0.0
        if score > best_score:
            best, best_score = clause, score
    if not best:
        return ""
    keep = next((w for w in best.split() if _TECH.search(w) or _METRIC.search(w)), "")
    return _cut(best, keep, max_words)


def metric_phrase(answer: str, language: str, max_words: int = 12) -> str:
    """A verbatim phrase of ``answer`` that states a result with a figure ("cut latency from
    20 to 4 minutes", "40% fewer", "두 배"), not negated, not about scores; "" if none. The
    figure is always inside the phrase; a figure without a result ("by 7 a.m.", "took us
    down twice") is no result."""
    for clause in _clauses(answer, max_words):
        if not _usable(clause) or _NEGATED.search(clause):
            continue
        if not (_CHANGE.search(clause) or _FROM_TO.search(clause) or _PERCENT.search(clause)):
            continue
        figure = _QUANTITY.search(clause)
        if figure is None:
            continue
        phrase = _cut(clause, figure.group(0).split()[0], max_words)
        if _QUANTITY.search(phrase):
            return phrase
    return ""


def own_action_phrase(answer: str, language: str, max_words: int = 12) -> str:
    """A verbatim phrase of ``answer`` in which the candidate says what they did themselves
    (first person and an action, not negated, not about scores or code); "" if none."""
    lang = lang_of(language)
    own = _OWN_ACTION_EN if lang == "en" else _OWN_ACTION_KO
    for clause in _clauses(answer, max_words):
        if not _usable(clause) or _NEGATED.search(clause):
            continue
        if (lang == "ko" or own.search(clause)) and acts(clause) and len(clause.split()) >= 3:
            if lang == "ko" and not own.search(answer):
                continue  # Korean drops the subject: the answer must say it was theirs
            return _cut(clause, "", max_words)
    return ""


def answer_sentences(answer: str) -> list[str]:
    """``answer`` cut into sentences, with bracketed notes ("[evaluation: 5/5]") on their
    own: the units that are judged one by one (to the grader or not)."""
    out: list[str] = []
    for sentence in split_sentences(answer, min_chars=1):
        for part in _NOTE_SPLIT.split(sentence):
            if part.strip():
                out.append(part.strip())
    return out[:80]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[\"'“”‘’.,!?]", " ", text).lower().split())


def quote_in(question: str, answer: str) -> str:
    """The quoted phrase of ``question`` (between “ ” or " ") if it occurs in ``answer``
    (case and punctuation insensitive), else ""."""
    for m in re.finditer(r"[“\"]([^”\"]{3,200})[”\"]", question):
        phrase = m.group(1).strip()
        if phrase and _norm(phrase) in _norm(answer):
            return phrase
    return ""


# --- answers addressed to the grader ------------------------------------------------------

# The plain forms only, each with a request or an address in it: what is merely *about*
# scores ("we reached a perfect score on the audit", "LLM 채점", "만점을 받으려고") is no
# request. Paraphrases are recognised by meaning (actors.models.relate), not here.
_GRADER = re.compile(
    r"\b(give|grant|award|assign)\s+(me|this|this answer|my answer|this response)\b.{0,40}"
    r"(score|marks?|points?|rating|\b5\b|five|10|ten|100|perfect|full|top|highest|maximum|max)"
    r"|\b(rate|grade|score|mark)\s+(me|this answer|my answer|this response)\b"
    r"|\b(deserves?|please|must|should)\b.{0,30}\b(perfect|full|maximum|max|highest|top)\s+"
    r"(score|marks?|grade|points?|rating)"
    r"|\b(give|rate|mark|score)\b.{0,20}(\b5\s*/\s*5\b|\b10\s*/\s*10\b|\b5 out of 5\b)"
    r"|\bignore\s+(all|any|the|your|previous|prior|above)\b.{0,30}(instructions?|rules?|prompt)"
    r"|\b(dear|note to|attention|hey)\s+(the\s+)?(grader|evaluator|assessor|scorer|reviewer|"
    r"ai|model)\b|\bas the (grader|evaluator|assessor|scorer)\b"
    r"|\b(you|grader|evaluator)\s+(must|should|will|have to)\s+(score|grade|rate|give)"
    r"|[\[【][^\]】]{0,60}(evaluat|scor|rating|relevance|override|평가|점수|채점)[^\]】]{0,60}[\]】]"
    r"|만점(을|으로)?\s*(주|줘|부탁|처리|받게\s*해)|최고\s*점(수)?(을|를|으로)?\s*(주|줘|부탁|매겨)"
    r"|5\s*점(을|를)?\s*(주|줘|부탁)|점수(를|는)?\s*(높게|후하게|최고로|만점으로)"
    r"|(지시|명령|지침|규칙|프롬프트)\S*\s*(을|를|은|는)?\s*(모두\s*)?무시"
    r"|평가자(님)?\s*(에게|께|은|는|,)|채점자(님)?|(후하게|너그럽게|좋게)\s*채점|채점해\s*주",
    re.IGNORECASE,
)


def grader_directed(answer: str) -> bool:
    """True when the answer talks to the grader (asks for a score, gives it instructions)
    instead of answering. Such an answer does not address the question, whatever the
    model says about it."""
    return _GRADER.search(answer) is not None


# --- near-duplicate questions --------------------------------------------------------------

_WORD = re.compile(r"[0-9A-Za-z\uac00-\ud7a3]+")


def _shingles(text: str) -> set[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    if HANGUL.search(text) or len(words) < 3:  # Korean: character bigrams (particles vary)
        joined = "".join(words)
        return {joined[i : i + 2] for i in range(max(0, len(joined) - 1))}
    grams = {" ".join(words[i : i + 2]) for i in range(len(words) - 1)}
    return grams | set(words)


def near_duplicate(a: str, b: str, threshold: float = 0.6) -> bool:
    """True when ``a`` and ``b`` are the same question in other words (Jaccard of words
    and word pairs ≥ ``threshold``; identical text always)."""
    if _norm(a) == _norm(b):
        return True
    sa, sb = _shingles(a), _shingles(b)
    if not sa or not sb:
        return False
    return len(sa & sb) / len(sa | sb) >= threshold


#: Answers shorter than this (words) are never called a repeat: "Yes." twice is not one.
REPEAT_MIN_WORDS = 8


def repeated_answer(answer: str, earlier: Iterable[str]) -> bool:
    """True when ``answer`` is (nearly) the same text as one of the ``earlier`` answers:
    the candidate gave the answer to another question again instead of answering this one.
    Short answers never count (see :data:`REPEAT_MIN_WORDS`)."""
    if len(answer.split()) < REPEAT_MIN_WORDS:
        return False
    return any(len(e.split()) >= REPEAT_MIN_WORDS and near_duplicate(answer, e) for e in earlier)
