"""Barge-in: the candidate talks over the interviewer."""

from __future__ import annotations

from actors.session import EmitAudio
from bus import events as ev
from tests.session.world import MS, Candidate, Models, World


def slow_second_sentence(jid: str) -> float:
    return 3.0 if jid.endswith(("q1.1", ":2:tts:1")) else 0.0


def asking_world() -> World:
    models = Models(tts_chunks=8, delay=slow_second_sentence)  # sentence 1 plays 2 s
    w = World(candidate=Candidate(mode="mute"), models=models)
    w.begin()
    w.run_until(lambda w: w.core.phase == "asking" and any(a.turn == 2 for a in w.audio))
    return w


def test_speech_over_the_question_stops_it_and_becomes_the_answer() -> None:
    w = asking_world()
    w.run(500 * MS)
    w.say([(0.0, 2.0)])
    w.run_until(lambda w: bool(w.of(ev.StopAudio)))
    (stop,) = w.of(ev.StopAudio)
    assert stop.turn == 2 and w.core.phase == "listening"
    assert w.core.counters.barge_ins == 1
    n = len([a for a in w.audio if a.turn == 2])
    w.run_until(lambda w: bool(w.turns))
    assert len([a for a in w.audio if isinstance(a, EmitAudio) and a.turn == 2]) == n
    record = w.turns[0].record
    # Only the sentence that was (estimated) heard is kept as the question.
    assert record.question == "Question 1 is about systems."
    assert record.turn == 2 and record.answer.startswith("we did part a")
    # The first segment includes the speech that triggered the barge-in.
    assert len(w.requested("stt")[0].job.pcm) >= 32000 * 1.9  # type: ignore[union-attr]


def test_a_short_noise_over_the_question_does_not_interrupt() -> None:
    w = asking_world()
    w.say([(0.0, 250 * MS)])
    w.run(1.0)
    assert not w.of(ev.StopAudio) and w.core.phase == "asking"


def test_no_barge_in_during_the_greeting() -> None:
    models = Models(tts_chunks=12)
    w = World(candidate=Candidate(mode="mute"), models=models)
    w.begin()
    w.run_until(lambda w: bool(w.audio))
    w.say([(0.0, 1.0)])
    w.run(1.2)
    assert not w.of(ev.StopAudio) and w.core.phase == "greeting"
    assert w.core.counters.frames_ignored > 0


def test_typed_answer_while_the_question_plays_stops_the_audio() -> None:
    w = asking_world()
    w.client(ev.AnswerText(text="My typed answer."))
    assert w.of(ev.StopAudio)[0].turn == 2
    assert [t.text for t in w.of(ev.Transcript) if t.final] == ["My typed answer."]
    # the acknowledgment and the quoted follow-up open at once
    assert w.core.phase in ("thinking", "asking")
