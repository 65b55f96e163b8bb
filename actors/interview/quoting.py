"""Quoting a document: a piece of a sentence cut at phrase boundaries, and a short name for
what a sentence is about.
"""

from __future__ import annotations

__all__ = ["key_phrase", "quotable"]

import re

from actors.interview.language import HANGUL
from actors.interview.lexicon import ACTION_EN, NUMBER

_KO_PARTICLE_START = re.compile(r"^(?:을|를|이|가|은|는|의|에|로|으로|와|과|도|만|명|건|개|배|%)")
_EN_WEAK_END = frozenset(
    "a an the and or of to in on at for with by from as per via into than that which who "
    "while my our their its".split()
)


def quotable(text: str, term: str = "", max_words: int = 16) -> str:
    """A piece of ``text`` to quote, at most ``max_words`` words (Korean: 어절), cut at
    phrase boundaries: the whole text when it is short; else the clause (between commas,
    semicolons and dashes) around ``term``, trimmed at word boundaries so it never starts
    with a particle or a counter without its number nor ends on a function word."""
    flat = " ".join(text.split()).strip(" .;:")
    words = flat.split()
    if len(words) <= max_words:
        return flat
    clauses = [
        c.strip() for c in re.split(r"(?<=[,;])\s+|\s+[-–—]\s+|\s+\((?=[^)]*\))", flat) if c.strip()
    ]
    # grow the clause holding the term with its neighbours while it fits
    at = next((i for i, c in enumerate(clauses) if term and term.casefold() in c.casefold()), -1)
    if at < 0:  # no term: start from the longest clause
        at = max(range(len(clauses)), key=lambda i: len(clauses[i].split())) if clauses else 0
    lo = hi = at
    size = len(clauses[at].split()) if clauses else 0
    while True:
        grew = False
        if hi + 1 < len(clauses) and size + len(clauses[hi + 1].split()) <= max_words:
            hi += 1
            size += len(clauses[hi].split())
            grew = True
        if lo > 0 and size + len(clauses[lo - 1].split()) <= max_words:
            lo -= 1
            size += len(clauses[lo].split())
            grew = True
        if not grew:
            break
    piece = " ".join(clauses[lo : hi + 1]).split() if clauses else words
    if len(piece) > max_words:
        idx = next((i for i, w in enumerate(piece) if term and term.casefold() in w.casefold()), 0)
        start = max(0, min(idx - max_words // 3, len(piece) - max_words))
        piece = piece[start : start + max_words]
    while len(piece) > 2 and _KO_PARTICLE_START.match(piece[0]):
        piece = piece[1:]
    while len(piece) > 2 and piece[-1].lower().strip(",;:") in _EN_WEAK_END:
        piece = piece[:-1]
    return " ".join(piece).strip(" ,.;:-–—(")


_KEY_STOP = frozenset(
    "a an the our my their its new several multiple various key main core all".split()
)
_PREP = frozenset(
    "for to in on at with by from of as into via across using through and that which so "
    "while per over under".split()
)
_KO_ACTION_NOUN = re.compile(
    r"(?:구축|도입|개발|설계|이전|개선|전환|자동화|최적화|운영|기획|출시|런칭|구현|리팩터링|"
    r"리팩토링|통합|수립|작성|분석|관리)(?:[,.)]|$|하|했|함|을|를|및)"
)
_KO_PARTICLE_END = re.compile(r"(?:을|를|이|가|은|는|의|에|로|으로|와|과|도|만|에서)$")
_KO_OBJECT = re.compile(r"([가-힣A-Za-z0-9.+#/-]{2,}(?:\s[가-힣A-Za-z0-9.+#/-]{2,})?)(?:을|를)\s")


def key_phrase(text: str) -> str:
    """A short name for what ``text`` is about, for a question to say: the object of its
    first action verb ("Redesigned the onboarding flow for new patients" -> "onboarding
    flow"; "정산 시스템을 구축" -> "정산 시스템"), "" when none is found."""
    m = ACTION_EN.search(text)
    if m:
        out: list[str] = []
        for w in text[m.end() :].split():
            bare = w.strip(",.;:()\"'“”").lower()
            if not out and bare in _KEY_STOP:
                continue
            if bare in _PREP or not bare or len(out) == 3 or w[-1:] in ",;:":
                if w[-1:] in ",;:" and bare and bare not in _PREP and len(out) < 3:
                    out.append(w.strip(",;:"))
                break
            out.append(w.strip("\"'“”()"))
        phrase = " ".join(out)
        if len(phrase) >= 4 and not NUMBER.fullmatch(phrase):
            return phrase
    k = _KO_OBJECT.search(text + " ")
    if k:
        return k.group(1)
    # 개조식: "주문 이벤트 파이프라인 구축" -> the one or two words before the action noun
    words = text.split()
    for i, w in enumerate(words):
        if i and _KO_ACTION_NOUN.match(w):
            before: list[str] = []
            for prev in reversed(words[max(0, i - 2) : i]):
                if _KO_PARTICLE_END.search(prev) or (
                    not HANGUL.search(prev) and not prev.isalpha()
                ):
                    break
                before.insert(0, prev)
            if before:
                return " ".join(before)
    return ""
