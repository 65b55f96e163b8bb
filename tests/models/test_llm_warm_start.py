"""The LLM engine's warm start on the real model: the first start evaluates the static
prompt prefixes and saves them; the next start restores them (no token evaluated) and
then answers exactly as the first engine does; a damaged saved prefix is evaluated again
and saved anew. (How long each start takes is a figure: ``parley bench models --only
startup``.)"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.models.engines.llm_qwen import QwenLlm
from bus.jobs import LlmJob

pytestmark = pytest.mark.models

JOB = LlmJob(
    job_id="warm:1:llm",
    session_id="warm",
    task="question",
    language="en",
    role="backend engineer",
    asked=["Tell me about yourself."],
    max_tokens=40,
)


def _engine(state: Path) -> QwenLlm:
    engine = QwenLlm(n_threads=1, state_dir=state)
    engine.load()
    return engine


def _close(engine: QwenLlm) -> None:
    llm = engine._llm
    engine._llm = None
    if llm is not None:
        llm.close()
    gc.collect()


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """A state directory filled by one cold start, and what that engine said to JOB."""
    root = tmp_path_factory.mktemp("llm-state")
    cold = QwenLlm(n_threads=1, state_dir=root)
    assert cold.expected_start() == "cold"
    cold.load()
    assert cold.start_kind == "cold"
    assert cold.load_stats["prefix_tokens_evaluated"] > 1000
    cold.warm_up()  # as the actor does; the engines below do the same, so their
    # computations match step for step (batch shapes change float rounding)
    said = list(cold.generate(JOB, threading.Event()))
    _close(cold)
    assert said, "the seeded job should give a question (else the comparison is empty)"
    yield root, said


def test_a_second_start_restores_the_prefixes_and_answers_the_same(
    state: tuple[Path, list[str]],
) -> None:
    root, said = state
    warm = QwenLlm(n_threads=1, state_dir=root)
    assert warm.expected_start() == "warm"
    warm.load()
    try:
        assert warm.start_kind == "warm"
        assert warm.load_stats["prefix_tokens_evaluated"] == 0
        assert warm.load_stats["prefixes_restored"] == 6
        warm.warm_up()
        # same KV state, same seed: the same words
        assert list(warm.generate(JOB, threading.Event())) == said
        # and the prompt's static part came from the restored prefix
        assert warm.last_stats["reused_tokens"] > 400
    finally:
        _close(warm)


def test_a_damaged_saved_prefix_is_evaluated_again_and_saved_anew(
    state: tuple[Path, list[str]],
) -> None:
    root, said = state
    victim = next(root.glob("*-static_assess_en-*.state"))
    blob = victim.read_bytes()
    victim.write_bytes(blob[: len(blob) // 2])
    engine = QwenLlm(n_threads=1, state_dir=root)
    assert engine.expected_start() == "warm"  # the files are there; load checks them
    engine.load()
    try:
        assert engine.start_kind == "cold"
        assert engine.load_stats["prefixes_restored"] == 5
        evaluated = engine.load_stats["prefix_tokens_evaluated"]
        assert 0 < evaluated < 250, evaluated  # the assessment prefix only
        assert victim.is_file() and victim.read_bytes() != blob[: len(blob) // 2]
        engine.warm_up()
        assert list(engine.generate(JOB, threading.Event())) == said
    finally:
        _close(engine)
    again = _engine(root)
    try:
        assert again.start_kind == "warm"
    finally:
        _close(again)
