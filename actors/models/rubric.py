"""The answer-assessment rubric: its JSON schema, validation and the fallback.

Every :meth:`LlmEngine.assess` returns a dict of this shape (``validate_assessment`` of it
succeeds); the LLM actor sends it on as the typed :class:`bus.jobs.Rubric`::

    {
      "relevance": 1..5,    # does the answer address the question
      "depth": 1..5,        # concrete situation, actions and result (STAR), numbers
      "clarity": 1..5,      # structure and concision
      "role_fit": 1..5,     # shows the skills the role needs
      "evidence": [str],    # at most 2 short quotes of the answer (picked by rule if the
                            # model gave none: pick_quote)
      "strength": str,      # "" (the model is not asked any more; the session picks
                            # strengths by rule) or one sentence, in the interview language
      "improvement": str,   # one concrete sentence, in the interview language
      "fallback": bool,     # True: the model failed and the scores are placeholders
    }

Consumers must leave ``fallback`` assessments out of averages.
"""

from __future__ import annotations

__all__ = [
    "ASSESSMENT_SCHEMA",
    "SCORE_KEYS",
    "assessment_grammar",
    "fallback_assessment",
    "validate_assessment",
]

from typing import Any

from actors.interview.answers import pick_quote
from actors.interview.language import strip_han
from actors.interview.text import truncate
from bus.jobs import SCORE_KEYS

_MAX_EVIDENCE = 2
_EVIDENCE_CHARS = 120

#: JSON schema given to the LLM's constrained decoder. Scores are enums because
#: llama.cpp's schema converter does not enforce ``minimum``/``maximum``; string lengths
#: are not in the schema because ``maxLength`` expands into a grammar that made sampling
#: five times slower (116 s for one assessment): lengths are cut in validation instead.
ASSESSMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **{k: {"type": "integer", "enum": [1, 2, 3, 4, 5]} for k in SCORE_KEYS},
        "improvement": {"type": "string"},
    },
    "required": [*SCORE_KEYS, "improvement"],
}
"""Evidence is not in the schema: it is picked from the answer without the model
(:func:`actors.interview.answers.pick_quote`), which saves ~30 decoded tokens."""


def assessment_grammar(language: str) -> str:
    """GBNF for the assessment: the four scores first (known after a few tokens), then one
    short improvement sentence whose first character is forced into the interview's script
    (a Hangul syllable for Korean, a capital letter for English): without it the model
    wrote its Korean feedback in English. The sentence ends at its first full stop, question
    or exclamation mark (a point inside a number such as 2.5 does not end it): the model
    otherwise added a second and third sentence, each costing decode time on the report's
    path. Parse with ``json.loads(text, strict=False)``."""
    # English opens with an imperative verb: left free, the model mostly described the
    # answer ("The answer provides a clear description..."), which is no advice (dropped).
    first = "[가-힣]" if language == "ko" else "lead"
    q = '\\"'
    fields = ", ".join(f'{q}{k}{q}: " score "' for k in SCORE_KEYS)
    leads = " | ".join(f'"{verb} "' for verb in IMPERATIVES)
    return (
        f'root ::= "{{{fields}, {q}improvement{q}: {q}" text "{q}}}"\n'
        "score ::= [1-5]\n"
        f"text ::= {first} body [.?!]\n"
        'body ::= ([^"\\\\\\n.?!] | "." [0-9])*\n'
        + (f"lead ::= {leads}\n" if language != "ko" else "")
    )


#: How an English improvement sentence begins (:func:`assessment_grammar`).
IMPERATIVES = (
    "Add",
    "Describe",
    "Explain",
    "Give",
    "Mention",
    "Name",
    "Quantify",
    "Say",
    "Show",
    "State",
    "Walk through",
)


_FALLBACK_TEXT = {
    "en": (
        "The answer was recorded.",
        "Describe one concrete situation, what you did, and the measurable result.",
    ),
    "ko": (
        "답변이 기록되었습니다.",
        "구체적인 상황, 본인이 한 행동, 그리고 수치로 된 결과를 하나씩 말해 보세요.",
    ),
}


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _score(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("score must be a number")
    if isinstance(value, str):
        value = float(value.strip())
    if not isinstance(value, int | float):
        raise ValueError(f"score must be a number, got {type(value).__name__}")
    return max(1, min(5, round(value)))


def _sentence(value: Any, language: str) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    text = " ".join((strip_han(value) if language == "ko" else value).split())
    if not text:
        raise ValueError("empty sentence")
    return text  # a sentence too long is not cut: text_ok() rejects it (retry/fallback)


def validate_assessment(data: Any, answer: str, language: str) -> dict[str, Any]:
    """Check and normalise a model's assessment; raise ``ValueError`` if it is unusable.

    Scores are clamped to 1..5 (numeric strings accepted); evidence keeps at most two
    quotes that really occur in ``answer`` (case/space-insensitive), each cut to 120
    characters; sentences are cut to 240 characters and, in Korean, stripped of Han.
    """
    if not isinstance(data, dict):
        raise ValueError("assessment must be an object")
    out: dict[str, Any] = {k: _score(data.get(k)) for k in SCORE_KEYS}
    evidence_in = data.get("evidence", [])
    if isinstance(evidence_in, str):
        evidence_in = [evidence_in]
    if not isinstance(evidence_in, list):
        raise ValueError("evidence must be a list")
    answer_norm = _norm(answer)
    evidence: list[str] = []
    for quote in evidence_in:
        if not isinstance(quote, str):
            continue
        q = quote.strip().strip("\"'“”‘’").strip()
        # A quote the answer does not contain is an invention of the model: drop it.
        if q and _norm(q) in answer_norm and q not in evidence:
            evidence.append(truncate(q, _EVIDENCE_CHARS))
        if len(evidence) == _MAX_EVIDENCE:
            break
    if not evidence:
        quote = pick_quote(answer, language)
        if quote:
            evidence.append(quote)
    out["evidence"] = evidence
    # The model writes no strength any more (chosen from the answer by rule); accepted.
    out["strength"] = _sentence(data["strength"], language) if data.get("strength") else ""
    out["improvement"] = _sentence(data.get("improvement"), language)
    out["fallback"] = bool(data.get("fallback", False))
    return out


def fallback_assessment(language: str, reason: str = "") -> dict[str, Any]:
    """Neutral placeholder used when the model fails; ``fallback`` is True and ``reason``
    says why (for logs and the report's footnotes)."""
    strength, improvement = _FALLBACK_TEXT.get(language, _FALLBACK_TEXT["en"])
    out: dict[str, Any] = {k: 3 for k in SCORE_KEYS}
    out.update(
        evidence=[], strength=strength, improvement=improvement, fallback=True, reason=reason
    )
    return out
