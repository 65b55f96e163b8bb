"""While the candidate speaks, the answer so far is sent for prefill: the same prompt
fields as the answer's assessment, a prefix of its words, never more than one queued, and
a stale one is no missed deadline."""

from __future__ import annotations

from actors.session import CoreConfig
from bus import jobs as jb
from tests.session.world import Candidate, Models, World


def _jobs(w: World, task: str) -> list[jb.LlmJob]:
    out = [r.job for r in w.requested(task)]
    assert all(isinstance(j, jb.LlmJob) for j in out)
    return out  # type: ignore[return-value]


def test_a_spoken_answer_is_prefilled_with_the_assessment_prompt_fields() -> None:
    w = World(
        questions=1,
        config=CoreConfig(max_followups=0),
        candidate=Candidate(mode="voice", speech=4.0, inner_pause=0.6),
    )
    w.begin()
    w.finish()
    prefills, assess = _jobs(w, "prefill"), _jobs(w, "assess")
    assert prefills and len(assess) == 1
    final = assess[0]
    for p in prefills:
        assert p.task == "prefill" and p.job_id.startswith(f"{w.core.state.session_id}:")
        assert (p.question, p.role, p.language, p.difficulty) == (
            final.question,
            final.role,
            final.language,
            final.difficulty,
        )
        assert final.answer.startswith(p.answer)
    assert w.core.counters.deadlines_expired == 0
    assert not w.reports[0]["estimated"]


def test_typed_answers_and_short_words_are_not_prefilled() -> None:
    w = World(questions=1, candidate=Candidate(mode="typed"))
    w.begin()
    w.finish()
    assert not _jobs(w, "prefill")
    w = World(questions=1, config=CoreConfig(max_followups=0, prefill_min_words=50))
    w.begin()
    w.finish()
    assert not _jobs(w, "prefill")


def test_a_prefill_that_never_runs_is_dropped_quietly() -> None:
    w = World(
        questions=1,
        config=CoreConfig(max_followups=0),
        candidate=Candidate(mode="voice", speech=4.0, inner_pause=0.6),
        models=Models(behaviour={"prefill": "silent"}),
    )
    w.begin()
    w.finish()
    assert _jobs(w, "prefill")
    assert w.core.counters.deadlines_expired == 0
    assert not w.reports[0]["estimated"] and w.reports[0]["answered"] == 1


def test_prefill_can_be_turned_off() -> None:
    w = World(
        questions=1,
        config=CoreConfig(max_followups=0, prefill_answers=False),
        candidate=Candidate(mode="voice", speech=4.0, inner_pause=0.6),
    )
    w.begin()
    w.finish()
    assert not _jobs(w, "prefill")
