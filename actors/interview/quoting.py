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


_UNIT_SPLIT = re.compile(r"(?<=[,;])\s+|\s+[-–—]\s+")
# inside a long clause: before a conjunction or a relative word (kept with what follows)
_SUB_SPLIT = re.compile(
    r"\s+(?=(?:and|but|which|where|while|so that|so|because|that|who|after|before|when|"
    r"until|by)\s)|(?<=[고며서])\s+|(?<=하여)\s+|(?<=위해)\s+"
)
_LEAD_CONNECTIVE = frozenset(
    "and but which where while so that who because after before when until by then also "
    "또한 그리고 그래서 이후 특히 또 이어서 동시에".split()
)
# A Korean 어절 that cannot end a quote: a particle or a connective ending (the verb comes
# after it).
_KO_OPEN_END = re.compile(
    r"(?<=[가-힣])(?:을|를|이|가|은|는|의|에|에서|로|으로|과|와|고|며|면서|하여|해|서)$"
)


# Words that may open a sentence on their own ("That change cut ...", "Then I ...").
_SENTENCE_START = frozenset("that this these those then also and but so".split())
_LEAD_PAREN = re.compile(r"^\([^)]{0,30}\)\s*")


def _units(flat: str, max_words: int) -> list[str]:
    """Clauses between punctuation; one longer than ``max_words`` is cut again before its
    conjunctions and relative words."""
    out: list[str] = []
    for clause in _UNIT_SPLIT.split(flat):
        clause = clause.strip()
        if not clause:
            continue
        if len(clause.split()) > max_words:
            out.extend(p.strip() for p in _SUB_SPLIT.split(clause) if p.strip())
        else:
            out.append(clause)
    return out


def _trim(piece: list[str], *, end: bool = True, start: bool = True) -> list[str]:
    """No leading connective, particle, counter or dangling parenthesis ("2022-23) built");
    no trailing function word."""
    if piece and ")" in piece[0] and "(" not in piece[0]:
        piece = piece[1:]
    while (
        start
        and len(piece) > 2
        and (
            _KO_PARTICLE_START.match(piece[0]) or piece[0].lower().strip(",;:") in _LEAD_CONNECTIVE
        )
    ):
        piece = piece[1:]
    while (
        end
        and len(piece) > 2
        and (piece[-1].lower().strip(",;:") in _EN_WEAK_END or _KO_OPEN_END.search(piece[-1]))
    ):
        piece = piece[:-1]
    return piece


def quotable(text: str, term: str = "", max_words: int = 16) -> str:
    """A piece of ``text`` to quote, at most ``max_words`` words (Korean: 어절), cut at
    phrase boundaries: the whole text when it is short; else the clauses around ``term``
    (between commas, semicolons and dashes, and inside a long clause before its "and",
    "which", "that"...), grown with their neighbours while they fit. It never starts with a
    connective, a particle or a counter without its number, nor ends on a function word;
    a single clause longer than ``max_words`` is cut around ``term`` at word boundaries."""
    flat = " ".join(text.split()).strip(" .;:")
    flat = _LEAD_PAREN.sub("", flat)  # "(2022-23) built ..." quotes from "built"
    words = flat.split()
    if len(words) <= max_words:
        return " ".join(_trim(words, end=False, start=words[0].lower() not in _SENTENCE_START))
    units = _units(flat, max_words)
    if not units:
        return " ".join(_trim(words[:max_words]))
    at = next((i for i, c in enumerate(units) if term and term.casefold() in c.casefold()), -1)
    if at < 0:  # no term: start from the longest clause
        at = max(range(len(units)), key=lambda i: len(units[i].split()))
    lo = hi = at
    size = len(units[at].split())
    while True:
        grew = False
        if hi + 1 < len(units) and size + len(units[hi + 1].split()) <= max_words:
            hi += 1
            size += len(units[hi].split())
            grew = True
        if lo > 0 and size + len(units[lo - 1].split()) <= max_words:
            lo -= 1
            size += len(units[lo].split())
            grew = True
        if not grew:
            break
    piece = " ".join(units[lo : hi + 1]).split()
    if len(piece) > max_words:
        idx = next((i for i, w in enumerate(piece) if term and term.casefold() in w.casefold()), 0)
        start = max(0, min(idx - max_words // 3, len(piece) - max_words))
        end = start + max_words
        if len(piece) - end <= 3:  # a few words short of the end: end where it ends
            end = len(piece)
        cut_end = end < len(piece)
        piece = piece[start:end]
        if cut_end:  # cut inside a phrase: end before its last preposition ("... for 40")
            last = max(
                (i for i, w in enumerate(piece) if w.lower() in _PREP and i >= len(piece) - 5),
                default=-1,
            )
            if last > max(idx - start, 2):
                piece = piece[:last]
    # the sentence's own first word ("That change cut ...") is kept, a clause's is not
    own_start = piece[0] == words[0] and piece[0].lower() in _SENTENCE_START
    return _balanced(" ".join(_trim(piece, start=not own_start))).strip(" ,.;:-–—(")


def _balanced(text: str) -> str:
    """Without a parenthesis the cut left open or closed alone ("rate (grade 4+" /
    "grade 4+) rose ...")."""
    text = re.sub(r"\s*\([^)]*$", "", text)
    return re.sub(r"^[^(]*\)\s*", "", text) if ")" in text.split("(")[0] else text


_KEY_STOP = frozenset(
    "a an the our my their its new several multiple various key main core all".split()
)
_PREP = frozenset(
    "for to in on at with by from of as into via across using through and that which so "
    "while per over under between among within around after before during".split()
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
