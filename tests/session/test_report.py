"""The report: pure aggregation of assessments, with fallbacks, in the interview language."""

from __future__ import annotations

import json

import msgspec
import pytest

from actors.session.report import build_report, heuristic_assessment, parse_assessment
from actors.session.state import Assessment, Settings, TurnRecord
from bus.errors import BadMessage
from bus.jobs import Rubric, decode_result


def rec(turn: int, answer: str, assessment: Assessment | None, index: int = 1) -> TurnRecord:
    return TurnRecord(
        session_id="sess-0001",
        turn=turn,
        index=index,
        kind="main",
        question=f"Q{turn}?",
        answer=answer,
        source="speech",
        language="en",
        assessment=assessment,
    )


def test_parse_clamps_scores_and_cleans_text() -> None:
    a = parse_assessment(
        Rubric(
            relevance=7,
            depth=0,
            clarity=3,
            role_fit=4,
            strength="  Clear   and concrete. ",
            improvement="Quantify",
        )
    )
    assert a is not None
    assert a.scores == {"relevance": 5.0, "depth": 1.0, "clarity": 3.0, "role_fit": 4.0}
    assert a.overall == round((5 + 1 + 3 + 4) / 4, 2)
    assert a.strengths == ["Clear and concrete."] and a.improvements == ["Quantify"]
    assert not a.fallback


def test_parse_without_a_rubric() -> None:
    assert parse_assessment(None) is None


def test_a_rubric_that_is_not_one_does_not_cross_the_bus() -> None:
    done = {
        "t": "llm_done",
        "job_id": "j",
        "text": "",
        "rubric": {"relevance": "high", "depth": 3, "clarity": 3, "role_fit": 3},
    }
    with pytest.raises(BadMessage):
        decode_result(msgspec.msgpack.encode(done))


def test_heuristic_is_modest_and_localised() -> None:
    short = heuristic_assessment("Q?", "Yes.", "en")
    long = heuristic_assessment(
        "Q?",
        "First, I measured the p99 latency, which was 800 ms. Then I added a cache because "
        "reads dominated. As a result the p99 fell to 120 ms. " * 4,
        "en",
    )
    assert short.fallback and long.fallback
    assert short.overall < long.overall <= 4.0
    assert max(long.scores.values()) <= 4.0
    ko = heuristic_assessment("질문?", "네.", "ko")
    assert (
        "추정" in ko.feedback
        and ko.improvements
        and all(any("\uac00" <= ch <= "\ud7a3" for ch in s) for s in ko.improvements)
    )
    empty = heuristic_assessment("Q?", "", "en")
    assert empty.overall == 1.0


def test_build_report_shape_and_averages() -> None:
    a1 = Assessment(
        scores={"relevance": 4.0, "depth": 2.0},
        overall=3.0,
        strengths=["Clear"],
        improvements=["Depth"],
        feedback="ok",
    )
    a2 = Assessment(
        scores={"relevance": 5.0, "depth": 3.0},
        overall=4.0,
        strengths=["clear."],
        improvements=["Numbers"],
        feedback="ok",
    )
    settings = Settings(role="backend", language="en", difficulty="mid", total=3)
    report = build_report(
        "sess-0001",
        settings,
        [rec(2, "A1", a1), rec(3, "A2", a2, index=2), rec(4, "A3", None, 3)],
        asked=3,
        ended_early=False,
    )
    json.dumps(report)  # JSON-ready
    assert report["answered"] == 3 and report["fallback_count"] == 1
    assert report["answers"][2]["fallback"] is True
    # The fallback estimate stays out of the averages while real assessments exist.
    assert report["scores"]["relevance"] == 4.5 and report["overall"] == 3.5
    assert report["estimated"] is False
    assert report["strengths"][0] == "Clear"  # "Clear" and "clear." are one item
    assert report["overall"] is not None and 1.0 <= report["overall"] <= 5.0
    assert report["summary"].startswith("You answered 3 of 3 questions")
    assert [t["speaker"] for t in report["transcript"]] == ["interviewer", "candidate"] * 3


def test_build_report_korean_and_empty() -> None:
    settings = Settings(role="backend", language="ko", difficulty="mid", total=2)
    empty = build_report("sess-0001", settings, [], asked=1, ended_early=True)
    assert empty["overall"] is None and empty["answered"] == 0 and empty["ended_early"]
    assert "답변한 질문이 없어" in empty["summary"]
    a = Assessment(scores={"relevance": 4.0, "depth": 2.0}, overall=3.0)
    full = build_report("sess-0001", settings, [rec(2, "답", a)], asked=1, ended_early=False)
    assert "5점 만점에 3.0점" in full["summary"] and "깊이" in full["summary"]
    # No LLM strengths given: derived from the scores, in Korean.
    assert full["strengths"] and "질문 적합성" in full["strengths"][0]
    assert full["improvements"] and "깊이" in full["improvements"][0]


def test_parse_the_model_actors_rubric() -> None:
    a = parse_assessment(Rubric(
        relevance=4, depth=3, clarity=5, role_fit=2,
        evidence=["we cut p99 to 120 ms"], strength="Concrete numbers.",
        improvement="Explain the trade-off.", fallback=False,
    ))  # fmt: skip
    assert a is not None and a.scores == {
        "relevance": 4.0,
        "depth": 3.0,
        "clarity": 5.0,
        "role_fit": 2.0,
    }
    assert a.strengths == ["Concrete numbers."] and a.improvements == ["Explain the trade-off."]
    assert a.evidence == ["we cut p99 to 120 ms"] and a.overall == 3.5


def test_a_placeholder_assessment_is_replaced_by_the_heuristic() -> None:
    placeholder = Rubric(relevance=3, depth=3, clarity=3, role_fit=3, fallback=True)
    assert parse_assessment(placeholder) is None


def test_only_fallbacks_give_an_estimated_report() -> None:
    settings = Settings(role="data", language="en", difficulty="mid", total=1)
    report = build_report(
        "sess-0001", settings, [rec(2, "I did it.", None)], asked=1, ended_early=False
    )
    assert report["estimated"] is True and report["overall"] is not None
