"""Assessment validation and fallback."""

from __future__ import annotations

import pytest

from actors.models.rubric import SCORE_KEYS, fallback_assessment, validate_assessment

ANSWER = "I rewrote the billing job in Go and cut the runtime from 40 to 5 minutes."


def test_scores_are_clamped_and_evidence_must_come_from_the_answer() -> None:
    raw = {
        "relevance": 9,
        "depth": "2",
        "clarity": 0,
        "role_fit": 3.6,
        "evidence": ["cut the runtime from 40 to 5 minutes", "invented quote", "  "],
        "strength": "Clear result.",
        "improvement": "Say what you learned.",
    }
    out = validate_assessment(raw, ANSWER, "en")
    assert [out[k] for k in SCORE_KEYS] == [5, 2, 1, 4]
    assert out["evidence"] == ["cut the runtime from 40 to 5 minutes"]
    assert out["fallback"] is False


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"relevance": 3, "depth": 3, "clarity": 3, "role_fit": 3, "strength": "ok"},
        {
            "relevance": "x",
            "depth": 3,
            "clarity": 3,
            "role_fit": 3,
            "strength": "a",
            "improvement": "b",
        },
        {
            "relevance": True,
            "depth": 3,
            "clarity": 3,
            "role_fit": 3,
            "strength": "a",
            "improvement": "b",
        },
    ],
)
def test_unusable_assessments_raise(raw: object) -> None:
    with pytest.raises(ValueError):
        validate_assessment(raw, ANSWER, "en")


def test_korean_sentences_lose_han_characters() -> None:
    raw = {k: 4 for k in SCORE_KEYS} | {
        "evidence": [],
        "strength": "결과가 明確합니다.",
        "improvement": "수치를 더하세요.",
    }
    assert validate_assessment(raw, "답변", "ko")["strength"] == "결과가 합니다."


@pytest.mark.parametrize("lang", ["en", "ko", "fr"])
def test_fallback_is_valid_and_marked(lang: str) -> None:
    fb = fallback_assessment(lang, "timeout")
    assert fb["fallback"] is True and fb["reason"] == "timeout"
    assert validate_assessment(fb, "", lang)["fallback"] is True
