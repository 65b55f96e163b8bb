"""Assessment, engine-independent: the rules that need no model, and the parse, validation
and retry policy around whatever text an engine's model produced.

An engine's ``assess`` does::

    early = rule_assessment(job)            # empty or grader-directed answer: decided here
    judge = AttemptJudge(job)
    for attempt in range(ATTEMPTS):
        text = <the model's reply to render_chat(assess job), temperature(attempt)>
        done = judge.offer(text, attempt)   # raises ValueError: unparseable on the last try
        if done is not None: return done
    return judge.best()

and turns any model failure into :func:`actors.models.rubric.fallback_assessment`. Scores
are never estimated here: a result either comes from the model (validated) or is marked
``"fallback": True``.
"""

from __future__ import annotations

__all__ = ["ATTEMPTS", "AttemptJudge", "parse_reply", "rule_assessment", "temperature"]

import json
from typing import Any

from actors.interview.answers import grader_directed
from actors.interview.feedback import text_ok
from actors.interview.language import lang_of
from actors.models.rubric import fallback_assessment, validate_assessment
from bus.jobs import LlmJob

#: Model calls per assessment: one retry when the feedback text fails its checks.
ATTEMPTS = 2


def temperature(attempt: int) -> float:
    """Sampling temperature of attempt ``attempt`` (a retry samples more freely)."""
    return 0.2 + 0.3 * attempt


def rule_assessment(job: LlmJob) -> dict[str, Any] | None:
    """The assessment of an answer that needs no model (empty, or talking to the grader),
    else None."""
    lang = lang_of(job.language)
    if not job.answer.strip():
        out = fallback_assessment(lang, "empty answer")
        out.update({"relevance": 1, "depth": 1, "clarity": 1, "role_fit": 1})
        out["fallback"] = False  # an empty answer is a real, if poor, result
        return out
    if grader_directed(job.answer):
        # Talking to the grader is not answering: decided by rule, not by the model.
        out = fallback_assessment(lang, "grader-directed answer")
        out.update({"relevance": 1, "depth": 1, "clarity": 2, "role_fit": 1})
        out.update(fallback=False, grader_directed=True)
        return out
    return None


def parse_reply(text: str, answer: str, lang: str) -> dict[str, Any]:
    """Parse and validate one model reply; raises ValueError when it is not a valid
    assessment. Tolerates text around the JSON object (servers without constrained
    decoding sometimes add a sentence or a code fence)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the reply")
    return validate_assessment(json.loads(text[start : end + 1], strict=False), answer, lang)


class AttemptJudge:
    """Keeps the first valid result and accepts the first whose texts pass their checks."""

    def __init__(self, job: LlmJob) -> None:
        self.answer = job.answer
        self.lang = lang_of(job.language)
        self._best: dict[str, Any] | None = None
        #: Attempts that were retried for their text (for metrics).
        self.text_retries = 0

    def offer(self, text: str, attempt: int) -> dict[str, Any] | None:
        """The result if ``text`` is accepted, None to try again; raises ValueError when
        the last attempt is not a valid assessment."""
        try:
            out = parse_reply(text, self.answer, self.lang)
        except ValueError:
            if attempt < ATTEMPTS - 1:
                return None
            raise
        self._best = self._best or out
        strength_ok = not out["strength"] or text_ok(out["strength"], self.lang)
        if strength_ok and text_ok(out["improvement"], self.lang):
            self.text_retries = attempt
            return out
        return None

    def best(self) -> dict[str, Any]:
        """After all attempts: the first valid result with failing texts cleaned up.
        Raises ValueError when no attempt was valid."""
        best = self._best
        if best is None:
            raise ValueError("no valid assessment")
        if best["strength"] and not text_ok(best["strength"], self.lang):
            best["strength"] = ""
        if not text_ok(best["improvement"], self.lang):
            best["improvement"] = fallback_assessment(self.lang)["improvement"]
        self.text_retries = ATTEMPTS - 1
        return best
