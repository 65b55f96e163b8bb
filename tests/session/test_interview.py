"""Whole interviews through the fake world: voice and typed, English and Korean."""

from __future__ import annotations

import re

import msgspec

from actors.session import PHRASES, CoreConfig, EmitAudio
from bus import events as ev
from bus import jobs as jb
from tests.session.world import MS, SID, Candidate, Models, World, purpose_of

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_voice_interview_en() -> None:
    w = World(questions=2)
    w.begin()
    w.finish()
    assert w.states() == [
        "greeting", "asking", "listening", "thinking", "asking", "listening",  # q1, follow-up
        "thinking", "asking", "listening", "thinking", "asking", "listening",  # q2, follow-up
        "thinking", "closing", "reporting", "finished",
    ]  # fmt: skip
    questions = w.of(ev.Question)
    assert [q.kind for q in questions if q.text == _full(w, q.turn)] == [
        "greeting", "main", "followup", "main", "followup", "closing",
    ]  # fmt: skip
    turns = [q.turn for q in questions]
    assert turns == sorted(turns)
    report = w.reports[0]
    assert report["answered"] == 4 and report["questions_asked"] == 2
    assert [a["source"] for a in report["answers"]] == ["speech"] * 4
    assert 1.0 <= report["overall"] <= 5.0
    assert w.of(ev.Report)[0].report == report


def _full(w: World, turn: int) -> str:
    """The last (full) question text shown for ``turn``."""
    texts: list[str] = [q.text for q in w.of(ev.Question) if q.turn == turn]
    return texts[-1]


def test_voice_interview_ko_speaks_korean() -> None:
    w = World(language="ko", questions=2)
    w.begin()
    w.finish()
    assert all(HANGUL.search(q.text) for q in w.of(ev.Question))
    stt = w.requested("stt")
    assert stt and all(isinstance(r.job, jb.SttJob) and r.job.language == "ko" for r in stt)
    tts = w.requested("tts")
    assert tts and all(isinstance(r.job, jb.TtsJob) and HANGUL.search(r.job.text) for r in tts)
    report = w.reports[0]
    assert report["language"] == "ko" and HANGUL.search(report["summary"])


def test_typed_interview_ko_without_stt() -> None:
    answer = "저희 팀이 큐 서비스를 맡아서 잘 끝냈습니다."
    w = World(language="ko", candidate=Candidate(mode="typed", typed_text=answer))
    w.begin()
    w.finish()
    assert not w.requested("stt")
    assert [a["source"] for a in w.reports[0]["answers"]] == ["text"] * 4
    finals = [t for t in w.of(ev.Transcript) if t.final]
    assert [t.text for t in finals] == [answer] * 4
    fups = [q.text for q in w.of(ev.Question) if q.kind == "followup"]
    assert fups and all(f.startswith(f"“{answer.rstrip('.')}”라고") for f in fups)


def test_every_turn_is_persisted_with_latency_and_snapshotted() -> None:
    w = World(questions=1, config=CoreConfig(max_followups=0))
    w.begin()
    w.finish()
    records = {p.record.turn: p.record for p in w.turns}
    (rec,) = records.values()
    assert rec.session_id == SID and rec.source == "speech" and rec.assessment is not None
    assert rec.question.startswith("Question 1")
    for key in ("endpoint_ms", "stt_final_ms", "ack_audio_ms", "voice_to_voice_ms"):
        assert key in rec.latency, key
    assert any("turn" in s for s in w.snapshots) and "finished" in w.snapshots[-1]


def test_start_with_documents_ingests_and_asks_grounded_questions() -> None:
    w = World(resume="Go, Postgres, payments.", posting="Backend engineer, Kafka.")
    w.begin()
    w.run_until(lambda w: bool(w.requested("question")))
    kinds = [purpose_of(r.job) for r in w.requests if r.kind in ("embed", "llm")]
    # the posting's must-haves are matched to the résumé's claims by meaning at once
    assert kinds[:4] == ["relate", "ingest", "ingest", "search"]
    ids = [r.job.job_id for r in w.requests if r.kind == "embed"]
    assert ids == [
        f"{SID}:0:embed:match",
        f"{SID}:0:embed:resume",
        f"{SID}:0:embed:posting",
        f"{SID}:0:embed:search",
    ]
    search = w.requested("search")[0].job
    assert isinstance(search, jb.EmbedJob) and "Kafka" in search.query
    # q1 is the first anchor's template (no model); q2 asks the LLM about the next anchor
    plan = w.core.state.plan
    assert [a.term for a in plan] == ["Go", "Kafka"]
    q1 = next(q for q in w.of(ev.Question) if q.kind == "main")
    assert "Go" in q1.text and "“Go, Postgres, payments”" in q1.text
    q2 = w.requested("question")[0].job
    assert isinstance(q2, jb.LlmJob) and q2.term == "Kafka" and q2.focus == "technical"
    assert "Kafka" in q2.anchor


def test_greeting_is_instant_and_first_question_follows() -> None:
    w = World()
    w.begin()
    greeting = w.of(ev.Question)[0]
    assert greeting.kind == "greeting" and greeting.turn == 1
    assert "backend" in greeting.text
    tts = w.requested("tts")[0]
    assert tts.job.job_id == f"{SID}:1:tts:0"
    w.run_until(lambda w: w.core.phase == "listening")
    assert [q.kind for q in w.of(ev.Question)][-1] == "main"


def test_each_llm_sentence_goes_to_tts_at_once_with_deterministic_ids() -> None:
    w = World()
    w.begin()
    w.run_until(lambda w: w.core.phase == "listening")
    q1_turn = next(q for q in w.of(ev.Question) if q.kind == "main").turn
    prefetch = [r.job.job_id for r in w.requested("tts") if ":q1." in r.job.job_id]
    live = [
        r.job.job_id for r in w.requested("tts") if r.job.job_id.startswith(f"{SID}:{q1_turn}:")
    ]
    # q1 was synthesised while the greeting played (prefetch), or live once on air.
    assert len(prefetch) + len(live) == 2
    assert all(re.fullmatch(rf"{SID}:\d+:tts:(q1\.)?\d+", j) for j in prefetch + live)


def test_audio_is_emitted_in_sentence_order_even_when_tts_finishes_out_of_order() -> None:
    # Sentence 0 of every question is slow, sentence 1 fast: the reorder buffer holds 1.
    models = Models(delay=lambda jid: 600 * MS if jid.endswith((":0", ".0")) else 0.0)
    w = World(models=models, config=CoreConfig(prefetch_tts=False))
    w.begin()
    w.run_until(lambda w: w.core.phase == "listening")
    turn = next(q for q in w.of(ev.Question) if q.kind == "main").turn
    chunks = [a for a in w.audio if a.turn == turn]
    assert [a.chunk for a in chunks] == list(range(len(chunks)))
    tts = [r for r in w.requested("tts") if r.job.job_id.startswith(f"{SID}:{turn}:tts:")]
    assert len(tts) == 2
    # The world marks chunk i of any sentence with byte i+1: 1,2 then 1,2 again.
    assert [a.pcm[0] for a in chunks] == [1, 2, 1, 2]


def test_next_question_is_prefetched_while_the_candidate_answers() -> None:
    w = World(questions=2, config=CoreConfig(max_followups=0))
    w.begin()
    w.run_until(lambda w: w.core.phase == "listening")
    assert w.requested("question")[-1].job.job_id.endswith(":llm:q2")
    w.run(2000 * MS)  # still answering
    assert w.core.phase == "listening"
    prepared = w.core.state.prepared
    assert prepared is not None and prepared.index == 2 and prepared.complete
    assert any(s.chunks for s in prepared.sentences)  # its audio is ready too
    w.run_until(lambda w: any(t.final for t in w.of(ev.Transcript)))
    n_audio = len(w.audio)
    # The acknowledgment and the prepared question follow at once, no LLM wait.
    last = w.of(ev.Question)[-1]
    assert last.kind == "main" and last.index == 2
    rec = w.turns[-1].record
    w.run_until(lambda w: w.core.phase == "listening")
    assert len(w.audio) > n_audio
    latency = [p.record for p in w.turns if p.record.turn == rec.turn][-1].latency
    assert latency["llm_first_sentence_ms"] == 0.0


def test_followup_then_next_question_and_max_followups() -> None:
    w = World(questions=1, config=CoreConfig(max_followups=2))
    w.begin()
    w.finish()
    kinds = [q.kind for q in w.of(ev.Question)]
    assert kinds.count("followup") >= 2
    assert len(w.requested("followup")) == 2


def test_complete_answer_goes_straight_to_the_prepared_question() -> None:
    complete = (
        "I built a queue with retries because jobs failed. Latency fell 40%.",
        "I moved the reports to a read replica; page loads dropped from 9 s to 2 s.",
    )
    w = World(questions=2, candidate=Candidate(mode="typed", typed_answers=complete))
    w.begin()
    w.finish()
    assert "followup" not in [q.kind for q in w.of(ev.Question)]
    assert not w.requested("followup")  # decided by rules: no model call
    assert w.reports[0]["answered"] == 2


def test_ack_is_spoken_not_shown_and_opens_the_response_turn() -> None:
    w = World(questions=2)
    w.begin()
    w.run_until(lambda w: any(t.final for t in w.of(ev.Transcript)))
    ack = next(r.job for r in w.requested("tts") if r.job.job_id == f"{SID}:3:tts:0")
    assert isinstance(ack, jb.TtsJob)
    assert ack.text in PHRASES["en"]["ack"]
    w.run_until(lambda w: w.core.phase == "listening")
    assert w.of(ev.Speaking)[-1].turn == 3
    question = w.of(ev.Question)[-1]
    assert question.turn == 3 and ack.text not in question.text


def test_audio_chunks_follow_speaking_per_turn() -> None:
    w = World(questions=1)
    w.begin()
    w.finish()
    announced: set[int] = set()
    order: list[object] = []
    for e in w.events:
        if isinstance(e, ev.Speaking):
            announced.add(e.turn)
        order.append(e)
    audio_turns = {a.turn for a in w.audio}
    assert audio_turns <= announced
    assert all(isinstance(a, EmitAudio) and a.sample_rate == 16000 for a in w.audio)


def test_reorder_buffer_overflow_skips_the_blocking_sentence() -> None:
    models = Models(tts_chunks=4, delay=lambda jid: 5.0 if jid.endswith(":2:tts:0") else 0.0)
    cfg = CoreConfig(tts_buffer_max_bytes=20_000, prefetch_tts=False)
    w = World(models=models, config=cfg, candidate=Candidate(mode="mute"))
    w.begin()
    w.run_until(lambda w: w.core.phase == "listening")
    chunks = [a for a in w.audio if a.turn == 2]
    assert len(chunks) == 4  # sentence 2 only: sentence 1 was given up
    assert w.core.counters.tts_dropped_bytes >= 0 and not w.core.expects(f"{SID}:2:tts:0")


def test_prepared_audio_over_the_bound_is_dropped_and_resynthesised_on_air() -> None:
    models = Models(tts_chunks=4)  # 32 kB per sentence
    cfg = CoreConfig(tts_buffer_max_bytes=40_000, max_followups=0)
    w = World(questions=2, models=models, config=cfg)
    w.begin()
    w.run_until(lambda w: len({q.index for q in w.of(ev.Question) if q.kind == "main"}) == 2)
    assert w.core.counters.tts_dropped_bytes > 0
    turn = w.of(ev.Question)[-1].turn
    live = [r.job.job_id for r in w.requested("tts") if r.job.job_id.startswith(f"{SID}:{turn}:")]
    assert f"{SID}:{turn}:tts:1" in live and f"{SID}:{turn}:tts:2" in live  # after the ack
    w.run_until(lambda w: w.core.phase == "listening")
    assert len([a for a in w.audio if a.turn == turn]) >= 8


def _report_vs_reporting(w: World) -> tuple[int, int]:
    report = w.of(ev.Report)[0]
    reporting = next(s for s in w.of(ev.State) if s.state == "reporting")
    return report.seq, reporting.seq


def test_the_report_does_not_wait_for_the_closing_words_to_finish() -> None:
    # Closing words of 10 s, assessments of 2 s: the report is out while they play.
    models = Models(tts_chunks=40)
    models.latency["assess"] = 2.0
    w = World(questions=1, models=models)
    w.begin()
    w.finish()
    report_seq, reporting_seq = _report_vs_reporting(w)
    assert report_seq < reporting_seq
    assert not w.reports[0]["estimated"] and len(w.reports) == 1
    assert w.of(ev.State)[-1].state == "finished"


def test_the_report_waits_for_the_last_assessment_after_the_closing() -> None:
    models = Models()
    models.latency["assess"] = 20.0
    w = World(questions=1, models=models)
    w.begin()
    w.finish()
    report_seq, reporting_seq = _report_vs_reporting(w)
    assert report_seq > reporting_seq
    assert not w.reports[0]["estimated"] and len(w.reports) == 1


def test_practise_again_asks_the_chosen_question_first() -> None:
    question = "Tell me about a time you disagreed with your manager."
    w = World(questions=2, candidate=Candidate(mode="typed"))
    w.start = msgspec.structs.replace(w.start, practise=question)
    w.begin()
    w.finish()
    mains = [q for q in w.of(ev.Question) if q.kind == "main"]
    assert mains[0].text == question and mains[0].index == 1
    assert len({q.text for q in mains}) == 2  # the second one is a new question
    assert w.reports[0]["answers"][0]["question"] == question
