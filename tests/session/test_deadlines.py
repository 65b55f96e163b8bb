"""Every job has a deadline; every failure has a fallback; late results are ignored."""

from __future__ import annotations

from actors.session import PHRASES, CoreConfig, JobResultIn
from bus import events as ev
from bus import jobs as jb
from tests.session.world import BANK, MS, SID, Behaviour, Candidate, Models, World

BANK_TEXTS = {q.text for q in BANK}


def main_texts(w: World) -> list[str]:
    by_turn: dict[int, str] = {}
    for q in w.of(ev.Question):
        if q.kind == "main":
            by_turn[q.turn] = q.text
    return list(by_turn.values())


def test_llm_question_timeout_falls_back_to_the_bank() -> None:
    w = World(questions=2, models=Models(behaviour={"question": "silent"}))
    w.begin()
    w.finish()
    texts = main_texts(w)
    assert len(texts) == 2 and set(texts) <= BANK_TEXTS and len(set(texts)) == 2
    assert w.core.counters.deadlines_expired >= 2 and w.core.counters.bank_fallbacks == 2
    assert w.reports[0]["answered"] >= 2


def test_llm_question_error_falls_back_at_once() -> None:
    w = World(models=Models(behaviour={"question": "error"}))
    w.begin()
    w.run_until(lambda w: w.core.phase == "asking")
    t_asking = w.now
    assert main_texts(w)[0] in BANK_TEXTS
    # no waiting for the deadline: the question follows the greeting's playback
    assert t_asking - 1000.0 < 3.0
    assert w.core.counters.job_errors >= 1


def test_empty_llm_question_falls_back_to_the_bank() -> None:
    w = World(models=Models(behaviour={"question": "empty"}))
    w.begin()
    w.run_until(lambda w: w.core.phase == "asking")
    assert main_texts(w)[0] in BANK_TEXTS


def test_late_results_are_ignored_and_counted() -> None:
    w = World(questions=1, models=Models(behaviour={"question": "late"}))
    w.begin()
    w.finish()
    w.run(30.0)
    assert all(t in BANK_TEXTS for t in main_texts(w))
    assert not any(q.text.startswith("Question") for q in w.of(ev.Question))
    assert w.core.counters.late_results >= 2 and w.late_sent >= 2


def _followups(w: World) -> list[str]:
    by_turn = {q.turn: q.text for q in w.of(ev.Question) if q.kind == "followup"}
    return list(by_turn.values())


def test_followup_timeout_asks_the_quoted_template_question() -> None:
    w = World(questions=2, models=Models(behaviour={"followup": "silent"}))
    w.begin()
    w.finish()
    fups = _followups(w)
    assert fups and fups[0].startswith("You mentioned “we did part a of it”.")
    # The fake candidate says the same words to question 2: named a repeat, no model call.
    assert all(
        f.startswith(("You mentioned “we did part a of it”.", "That is much the same"))
        for f in fups
    )
    assert all(f.endswith("?") for f in fups)
    assert len(main_texts(w)) == 2


def test_followup_error_ends_the_quoted_followup_at_once() -> None:
    w = World(questions=2, models=Models(behaviour={"followup": "error"}))
    w.begin()
    w.run_until(lambda w: any(t.final for t in w.of(ev.Transcript)))
    t0 = w.now
    w.run_until(
        lambda w: any(q.text.endswith("?") for q in w.of(ev.Question) if q.kind == "followup")
    )
    assert w.now - t0 < 2.0


def test_tts_timeout_gives_text_only_and_the_interview_goes_on() -> None:
    w = World(questions=1, models=Models(behaviour={"tts": "silent"}))
    w.begin()
    w.finish()
    assert not w.audio and not w.of(ev.Speaking)
    assert [q.kind for q in w.of(ev.Question)][-1] == "closing"
    assert w.reports


def test_tts_error_on_one_sentence_skips_only_that_sentence() -> None:
    models = Models(override=lambda jid: "error" if jid.endswith(("q1.0", ":2:tts:0")) else None)
    w = World(questions=1, models=models)
    w.begin()
    w.run_until(lambda w: w.core.phase == "listening")
    turn2 = [a for a in w.audio if a.turn == 2]
    assert len(turn2) == 2  # the second sentence only


def test_stt_timeout_asks_to_repeat_then_listens_again() -> None:
    models = Models(override=lambda jid: "silent" if jid.startswith(f"{SID}:2:stt") else None)
    w = World(questions=1, models=models)
    w.begin()
    w.finish()
    repeat = [q for q in w.of(ev.Question) if q.kind == "repeat"]
    assert len(repeat) == 1 and repeat[0].text in PHRASES["en"]["repeat"]
    first = w.turns[0].record
    assert first.turn == repeat[0].turn and first.question.startswith("Question 1")


def test_stt_failing_every_time_moves_on_after_max_repeats() -> None:
    w = World(questions=1, models=Models(behaviour={"stt": "error"}))
    w.begin()
    w.finish()
    assert [q.kind for q in w.of(ev.Question)].count("repeat") == 2
    assert w.reports[0]["answered"] == 0


def test_noise_only_transcript_listens_again_silently() -> None:
    calls = {"n": 0}

    def first_empty(jid: str) -> Behaviour | None:
        if ":stt:" in jid:
            calls["n"] += 1
            return "empty" if calls["n"] <= 2 else None
        return None

    w = World(questions=1, models=Models(override=first_empty))
    w.begin()
    w.finish()
    assert "repeat" not in [q.kind for q in w.of(ev.Question)]
    assert w.states().count("listening") >= 3


def test_embed_timeouts_go_on_without_context() -> None:
    models = Models(behaviour={"ingest": "silent", "search": "silent"})
    w = World(models=models, resume="My resume.")
    w.begin()
    w.run_until(lambda w: bool(w.requested("question")))
    t_search = w.requested("search")
    assert t_search
    q1 = w.requested("question")[0]
    assert isinstance(q1.job, jb.LlmJob) and q1.job.context == []
    # ingest 8 s, then search 4 s
    assert 11.5 < w.now - 1000.0 < 13.0


def test_assess_timeout_gives_fallback_scores() -> None:
    w = World(questions=1, models=Models(behaviour={"assess": "silent"}))
    w.begin()
    w.finish()
    report = w.reports[0]
    assert report["answers"] and all(a["fallback"] for a in report["answers"])
    assert report["fallback_count"] == len(report["answers"])


def test_assess_error_gives_fallback_scores_at_once() -> None:
    w = World(questions=1, models=Models(behaviour={"assess": "error"}))
    w.begin()
    w.run_until(lambda w: any(p.record.assessment for p in w.turns))
    rec = next(p.record for p in w.turns if p.record.assessment)
    assert rec.assessment is not None and rec.assessment.fallback


def test_unknown_and_garbage_results_are_ignored() -> None:
    w = World()
    w.begin()
    before = w.core.state.phase
    w.feed(JobResultIn(jb.TtsDone(job_id="nope", chunks=1), w.now))
    w.feed(JobResultIn(jb.SttResult(job_id=f"{SID}:9:stt:0", text="x"), w.now))
    assert w.core.counters.late_results == 2 and w.core.phase == before


def test_wrong_result_type_fails_that_job_only() -> None:
    w = World(candidate=Candidate(mode="mute"))
    w.begin()
    tts = w.requested("tts")[0].job.job_id
    w.feed(JobResultIn(jb.SttResult(job_id=tts, text="?"), w.now))
    assert not w.core.expects(tts) and w.core.counters.job_errors == 1
    w.run_until(lambda w: w.core.phase == "listening")


def test_reporting_waits_for_assessments_but_not_forever() -> None:
    wait = CoreConfig().report_wait_s
    models = Models(latency={**Models().latency, "assess": wait * 3})
    w = World(questions=1, models=models)
    w.begin()
    w.run_until(lambda w: w.core.phase == "reporting")
    t0 = w.now
    w.finish()
    assert wait - 1.0 < w.now - t0 < wait + 1.0 + 200 * MS
    assert all(a["fallback"] for a in w.reports[0]["answers"])
