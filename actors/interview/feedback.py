"""Which generated feedback sentences may be shown to a candidate.

The model writes the improvement sentence of an assessment (and used to write strengths);
what reaches a report must be complete, in the interview's language, not a placeholder such
as "None", and say something: a strength that is really a negative verdict, or an
"improvement" that suggests nothing, is dropped. Used by the LLM engines (to decide on a
retry) and by the session's report (to decide what is shown).
"""

from __future__ import annotations

__all__ = ["SENTENCE_CHARS", "clean_sentences", "copies", "text_ok"]

import re
from collections.abc import Sequence

from actors.interview.language import lang_of, language_pure

#: The longest feedback sentence that is shown (a longer one is rejected, never cut).
SENTENCE_CHARS = 240
_MAX_ITEMS = 3

_NONE_LIKE = re.compile(
    r"^(none|n/?a|nothing|no improvements?|not applicable|-+|없음|없습니다|해당 없음)[.!]?$",
    re.IGNORECASE,
)
_NEGATIVE = re.compile(
    r"\b(no|not|lacks?|lacking|missing|fail\w*|irrelevant|does not|doesn't|did not|didn't|"
    r"without|vague|poor|weak)\b|없|부족|못했|않았|않습니다|미흡|아쉽",
    re.IGNORECASE,
)
_SUGGESTION = {
    "en": re.compile(
        r"\b(add|include|explain|describe|give|mention|quantify|could|should|try|show|name|"
        r"state|clarify|walk|focus|use|provide|share|structure|say|tell|compare|measure)\b",
        re.IGNORECASE,
    ),
    "ko": re.compile(r"(세요|십시오|좋습니다|좋겠습니다|필요합니다|바랍니다)[.!]?$"),
}
_PRAISE_OPENING = re.compile(r"^the (answer|candidate) (provides|gives|shows|is|was|has)\b", re.I)


def text_ok(text: str, language: str) -> bool:
    """A generated sentence that may be shown: complete (not cut), not a placeholder such
    as "None", at most :data:`SENTENCE_CHARS`, in the interview language."""
    t = " ".join(text.split())
    if len(t) < 8 or len(t) > SENTENCE_CHARS or _NONE_LIKE.match(t):
        return False
    if t.endswith(("…", "...")):
        return False
    return language_pure(t, language)


def clean_sentences(items: Sequence[str], language: str, *, positive: bool) -> list[str]:
    """The generated sentences that may be shown (:func:`text_ok`), at most three, each
    ending with punctuation; strengths (``positive``) that are negative verdicts and
    improvements that suggest nothing are dropped."""
    lang = lang_of(language)
    out = []
    for item in items:
        text = " ".join(item.split())
        if not text_ok(text, lang):
            continue
        if positive and _NEGATIVE.search(text):
            continue
        if not positive and (not _SUGGESTION[lang].search(text) or _PRAISE_OPENING.match(text)):
            continue  # an "improvement" that suggests nothing
        if text[-1] not in ".!?。다요" and not text.endswith(")"):
            text += "."
        out.append(text)
    return out[:_MAX_ITEMS]


def copies(sentence: str, answer: str) -> bool:
    """True when the model pasted the candidate's words back as its advice (a run of 20
    characters of ``sentence`` occurs in ``answer``)."""
    s = " ".join(sentence.split())
    return len(s) >= 20 and any(s[i : i + 20] in answer for i in range(0, len(s) - 19, 10))
