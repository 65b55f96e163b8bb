"""Follow-ups that listen: decided by rules on the answer, always quoting the candidate.

:func:`decide` says whether an answer gets a follow-up (it lacks the candidate's own
actions, a result or a number; it does not talk to the grader) and which phrase of it to
quote. The follow-up opens with a sentence quoting that phrase verbatim ("You mentioned
“…”." / "“…”라고 하셨는데요."), which goes on air at once; the LLM only phrases the
question after it, and :func:`fallback_question` stands in when the LLM gives none. A
repeated answer is named as such and the candidate is asked for an example that fits this
question, without a model call.
"""

from __future__ import annotations

__all__ = ["REPEAT", "Decision", "decide", "fallback_question", "on_topic", "opening"]

from collections.abc import Sequence
from dataclasses import dataclass

from actors.interview.answers import (
    followup_gaps,
    grader_directed,
    pick_quote,
    repeated_answer,
)
from actors.interview.lexicon import techs_in
from actors.session.state import OnAir, Prepared

_GAP_ORDER = ("actions", "result", "example")

_OPENING = {"en": "You mentioned “{quote}”.", "ko": "“{quote}”라고 하셨는데요."}

_REPEAT_OPENING = {
    "en": "That is much the same answer you gave to an earlier question.",
    "ko": "앞선 질문에 하신 답변과 거의 같은데요.",
}

#: The gap of a follow-up to a repeated answer; its question is always the template.
REPEAT = "repeat"

_FALLBACK = {
    "en": {
        "actions": "What exactly did you do there yourself?",
        "result": "What was the result, and how did you measure it?",
        "example": "Can you walk me through one concrete example of that?",
        REPEAT: "For this question, could you give a different example, one that fits what "
        "I asked?",
    },
    "ko": {
        "actions": "그 과정에서 본인이 직접 하신 일은 무엇이었나요?",
        "result": "그 결과는 어땠고, 어떻게 측정하셨나요?",
        "example": "구체적인 사례를 하나 들어 설명해 주시겠어요?",
        REPEAT: "이번 질문에 맞는 다른 사례로 다시 말씀해 주시겠어요?",
    },
}


@dataclass(frozen=True)
class Decision:
    quote: str
    gap: str


def decide(answer: str, language: str, earlier: Sequence[str] = ()) -> Decision | None:
    """A follow-up to ask about ``answer``, or None to move on. ``earlier``: the candidate's
    answers to the questions before this one (a repeat of one gets a :data:`REPEAT`
    follow-up with an empty quote)."""
    if grader_directed(answer):
        return None
    if repeated_answer(answer, earlier):
        return Decision(quote="", gap=REPEAT)
    gaps = followup_gaps(answer, language)
    if not gaps:
        return None
    quote = pick_quote(answer, language)
    if not quote:
        return None
    gap = next(g for g in _GAP_ORDER if g in gaps)
    return Decision(quote=quote, gap=gap)


def opening(decision: Decision, language: str) -> str:
    """The follow-up's first sentence: the quote, or for a repeat, that it is one."""
    lang = "ko" if language == "ko" else "en"
    if decision.gap == REPEAT:
        return _REPEAT_OPENING[lang]
    return _OPENING[lang].format(quote=decision.quote)


def on_topic(sentence: str, question: str, answer: str) -> bool:
    """False when a generated follow-up ``sentence`` names a technology that neither the
    ``question`` nor the ``answer`` names (asked about people, the model asked how the
    candidate keeps code efficient)."""
    known = {t.casefold() for t in techs_in(f"{question} {answer}")}
    return all(t.casefold() in known for t in techs_in(sentence))


def fallback_question(language: str, stream: OnAir | Prepared) -> str:
    table = _FALLBACK["ko" if language == "ko" else "en"]
    return table.get(stream.gap, table["example"])
