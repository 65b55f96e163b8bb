"""Qwen2.5-Coder-1.5B on llama.cpp: questions in English and Korean, follow-ups, rubric."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from actors.interview.language import has_han, has_hangul
from actors.interview.text import is_question
from actors.models.engines import EngineCancelled, EngineError, LlmEngine, PrefillsAnswers
from actors.models.engines.llm_qwen import QwenLlm
from actors.models.rubric import SCORE_KEYS, validate_assessment
from bus.jobs import Exchange, LlmJob

pytestmark = pytest.mark.models

GOOD = (
    "I led the migration of our billing database from MySQL to PostgreSQL. I wrote the "
    "dual-write layer and the backfill scripts, and we cut over with zero downtime; p99 "
    "latency dropped from 180 to 60 milliseconds."
)


@pytest.fixture(scope="module")
def llm() -> Iterator[QwenLlm]:
    engine = QwenLlm(n_threads=1)
    engine.load()
    yield engine


def job(task: str, job_id: str = "t:1:llm", **kw: object) -> LlmJob:
    base: dict[str, object] = {
        "job_id": job_id,
        "session_id": "t",
        "task": task,
        "language": "en",
        "role": "backend engineer",
    }
    return LlmJob(**(base | kw))  # type: ignore[arg-type]


def ask(llm: QwenLlm, j: LlmJob) -> list[str]:
    return list(llm.generate(j, threading.Event()))


def first_usable(llm: QwenLlm, language: str, **kw: object) -> list[str]:
    # Sampling is seeded from the job id, so this is deterministic on a given build; a few
    # ids guard against one unlucky seed of a small model.
    for n in range(3):
        out = ask(llm, job("question", f"t:{language}{n}:llm", language=language, **kw))
        if out:
            return out
    return []


def test_english_question(llm: QwenLlm) -> None:
    assert isinstance(llm, LlmEngine)
    out = first_usable(
        llm,
        "en",
        asked=["Tell me about yourself."],
        context=["Resume: built a payments API in Go; migrated MySQL to PostgreSQL."],
    )
    assert 1 <= len(out) <= 2, out
    assert out[-1].endswith("?") and not has_hangul(" ".join(out)), out
    assert not out[0].lower().startswith(("sure", "here", "question")), out


def test_korean_question(llm: QwenLlm) -> None:
    out = first_usable(
        llm,
        "ko",
        role="백엔드 개발자",
        asked=["자기소개 부탁드립니다."],
        history=[Exchange("자기소개 부탁드립니다.", "저는 5년차 백엔드 개발자입니다.")],
    )
    text = " ".join(out)
    assert out and has_hangul(text) and not has_han(text), out
    assert is_question(out[-1], "ko"), out


def test_prefix_is_reused_within_a_session(llm: QwenLlm) -> None:
    history = [Exchange("Tell me about yourself.", "I am a backend developer.")]
    ask(llm, job("question", "t:r1:llm", history=history))
    ask(llm, job("question", "t:r2:llm", history=[*history, Exchange("Why Go?", "Speed.")]))
    stats = llm.last_stats
    assert stats["reused_tokens"] >= 0.8 * stats["prompt_tokens"], stats


def test_quoted_followup_is_one_question(llm: QwenLlm) -> None:
    q = "Tell me about a project you are proud of."
    out = ask(
        llm,
        job(
            "followup",
            question=q,
            answer="We moved the billing service to Postgres and the team liked it.",
            anchor="We moved the billing service to Postgres",
            term="result",
        ),
    )
    assert 1 <= len(out) <= 2 and out[-1].endswith("?"), out


def test_assessment_is_schema_valid(llm: QwenLlm) -> None:
    answer = GOOD
    out = llm.assess(
        job("assess", question="Tell me about a project you are proud of.", answer=answer)
    )
    assert out["fallback"] is False, out
    assert validate_assessment(out, answer, "en") == out
    assert all(isinstance(out[k], int) and 1 <= out[k] <= 5 for k in SCORE_KEYS)
    assert out["depth"] >= 3  # it has actions and numbers
    empty = llm.assess(job("assess", question="Q?", answer="  "))
    assert [empty[k] for k in SCORE_KEYS] == [1, 1, 1, 1]


def test_cancelled_assessment_stops_at_once_and_leaves_the_engine_usable(llm: QwenLlm) -> None:
    j = job("assess", "t:x:assess", question="Describe a hard bug you fixed.", answer=GOOD)

    def stop_latency(after: float) -> float:
        """Seconds from setting cancel to assess() raising."""
        cancel = threading.Event()
        timer = threading.Timer(after, cancel.set)
        timer.start()
        started = time.monotonic()
        try:
            with pytest.raises(EngineCancelled):
                llm.assess(j, cancel)
        finally:
            timer.cancel()
        return time.monotonic() - started - after

    ready = threading.Event()
    ready.set()
    with pytest.raises(EngineCancelled):
        llm.assess(j, ready)
    # Uncancelled, this assessment takes ~30 s: ~10 s reading the prompt, then sampling.
    assert stop_latency(1.0) < 2.0  # while reading the prompt
    out = llm.assess(j)  # the aborted prompt evaluation left the context consistent
    assert out["fallback"] is False, out
    assert stop_latency(1.0) < 2.0  # prompt now cached: 1 s in, it is sampling


def test_cancel_and_serialisation(llm: QwenLlm) -> None:
    cancel = threading.Event()
    cancel.set()
    assert list(llm.generate(job("question", "t:c:llm"), cancel)) == []
    gen = llm.generate(
        job("followup", "t:b:llm", anchor="Fine.", term="example"), threading.Event()
    )
    next(gen)
    with pytest.raises(EngineError, match="busy"):
        ask(llm, job("question", "t:b2:llm"))
    gen.close()
    with pytest.raises(EngineError):
        ask(llm, job("assess"))


def test_prefill_of_the_answer_so_far_is_reused_by_its_assessment(llm: QwenLlm) -> None:
    assert isinstance(llm, PrefillsAnswers)
    question = "Tell me about a migration you led."
    half = GOOD.split(";")[0]
    partial = job("prefill", "pf:2:assess:p1", session_id="pf", question=question, answer=half)
    read = llm.prefill(partial, threading.Event())
    assert read > 20  # the session's question and the words so far were read
    prefilled = llm.last_stats["prompt_tokens"]
    assert llm.prefill(partial, threading.Event()) == 0  # nothing new to read
    stopped = threading.Event()
    stopped.set()
    longer = job("prefill", "pf:2:assess:p2", session_id="pf", question=question, answer=GOOD)
    assert llm.prefill(longer, stopped) == 0
    whole = job("assess", "pf:2:assess", session_id="pf", question=question, answer=GOOD)
    out = llm.assess(whole)
    assert not out.get("fallback")
    # the assessment started from the prefilled prefix (less a token or two where the
    # words so far end): only the rest of the answer and the prompt's end were read
    assert llm.last_stats["reused_tokens"] >= prefilled - 2
