"""End of turn from the end-of-turn model's verdict (``CheckTurn`` / ``TurnVerdict``)."""

from __future__ import annotations

from actors.session import CheckTurn, CoreConfig, TurnVerdict
from actors.session.endpointing import Endpoint, Endpointer, SegmentCut, end_turn
from bus import events as ev
from bus import jobs as jb
from tests.session.test_endpointing import P, listening_world, run
from tests.session.world import MS, Models, World


def oracle(w: World, _c: CheckTurn) -> float:
    """A perfect model: finished iff the candidate will not speak again."""
    return 0.0 if w.will_speak() else 1.0


def always(p: float):  # type: ignore[no-untyped-def]
    return lambda _w, _c: p


def fragments(job: jb.SttJob) -> str:
    """Words of a sentence interrupted by a pause: the first piece does not end it."""
    return "so the first thing I did" if job.segment == 0 else "was to add a cache."


def finals(w: World) -> list[str]:
    return [t.text for t in w.of(ev.Transcript) if t.final]


def test_end_turn_cuts_the_rest_and_ends() -> None:
    ep = Endpointer()
    run(ep, [(True, 1500), (False, 192)])
    sig = end_turn(ep, P)
    assert [type(s) for s in sig] == [SegmentCut, Endpoint]
    assert isinstance(sig[1], Endpoint) and sig[1].reason == "turn"
    assert not ep.active and end_turn(ep, P) == []


QUICK_STT = {**Models().latency, "stt": 100 * MS}


def test_a_finished_answer_ends_without_waiting_for_the_silence() -> None:
    w = listening_world(models=Models(turn=oracle, latency=QUICK_STT, stt_rtf=0.05))
    w.say([(0.0, 2.0)])
    w.run(2.0 + 0.6)  # 600 ms of silence: far below the 1.2 s fallback
    assert w.core.phase != "listening"
    assert w.core.counters.turn_model_ends == 1
    # the words were transcribed while the model judged the pause: the final is ready
    assert finals(w) == ["we did part a of it."]
    c = w.checks[0]
    assert 1900 <= c.audio_ms <= 2000 + 256 + 300 + 200 + 1  # the utterance, with pre-roll


def test_a_paused_answer_is_not_cut() -> None:
    # A 1.8 s thinking pause mid-sentence: longer than the 1.2 s silence endpoint.
    spans = [(0.0, 1.5), (3.3, 1.5)]
    w = listening_world(models=Models(turn=oracle, stt_text=fragments))
    w.say(spans)
    w.run_until(lambda w: bool(finals(w)), limit=20)
    assert finals(w) == ["so the first thing I did was to add a cache."]
    assert len(w.checks) >= 4  # asked at 192 ms, then again as the pause grew
    # Without a model the same pause ends the answer early (today's behaviour).
    w2 = listening_world(models=Models(stt_text=fragments))
    w2.say(spans)
    w2.run_until(lambda w: bool(finals(w)), limit=20)
    assert finals(w2) == ["so the first thing I did"]


def test_unfinished_after_finished_words_keeps_the_ordinary_silence() -> None:
    # The model hears more to come but the words end a sentence: 1.2 s, as without it.
    w = listening_world(models=Models(turn=always(0.1)))
    w.say([(0.0, 1.5)])
    w.run(1.5 + 1.0)
    assert w.core.phase == "listening"
    w.run(0.5)
    assert w.core.phase != "listening"
    # trusting the model instead: the long fallback
    w2 = listening_world(
        models=Models(turn=always(0.1)), config=CoreConfig(turn_trust_unfinished=True)
    )
    w2.say([(0.0, 1.5)])
    w2.run(1.5 + 2.0)
    assert w2.core.phase == "listening"


def test_unfinished_pause_falls_back_to_the_long_silence() -> None:
    cfg = CoreConfig(turn_fallback_ms=2400, turn_trust_unfinished=True)
    w = listening_world(models=Models(turn=always(0.1), stt_text=fragments), config=cfg)
    w.say([(0.0, 1.5)])
    w.run(1.5 + 2.0)
    assert w.core.phase == "listening"  # 2 s of silence: still listening
    w.run(0.6)
    assert w.core.phase != "listening" and w.core.counters.turn_model_ends == 0


def test_a_verdict_that_comes_after_the_candidate_spoke_again_is_ignored() -> None:
    slow = {**Models().latency, "turn": 400 * MS}
    w = listening_world(models=Models(turn=always(1.0), latency=slow))
    w.say([(0.0, 1.5), (1.8, 1.5)])  # speaks again 300 ms into the pause
    w.run(2.2)
    assert w.core.phase == "listening"
    assert w.core.counters.stale_verdicts >= 1
    w.run_until(lambda w: bool(finals(w)), limit=20)
    assert finals(w) == ["we did part a of it. we did part b of it."]  # one answer
    pcm = [r.job.pcm for r in w.requested("stt") if isinstance(r.job, jb.SttJob)]
    assert sum(len(p) for p in pcm) >= 3.0 * 32000


def test_words_that_do_not_end_a_sentence_overrule_the_model() -> None:
    models = Models(
        turn=always(1.0),
        latency=QUICK_STT,
        stt_rtf=0.05,
        stt_text=lambda job: "and then I think we",
    )
    w = listening_world(models=models)
    w.say([(0.0, 2.0)])
    w.run(2.0 + 2.0)  # the model says finished, the words do not: the long fallback
    assert w.core.phase == "listening" and w.core.counters.turn_model_ends == 0
    w.run(0.6)
    assert w.core.phase != "listening"


def test_without_a_model_the_pause_is_still_transcribed_early() -> None:
    w = listening_world(models=Models(latency=QUICK_STT, stt_rtf=0.05))
    w.say([(0.0, 0.8)])  # short: no 1 s segment would be cut at a pause before
    w.run(0.8 + 0.4)
    assert len(w.requested("stt")) == 1 and w.core.phase == "listening"


def test_an_unknown_verdict_changes_nothing() -> None:
    w = listening_world()
    w.say([(0.0, 1.0)])
    w.run(0.5)
    w.feed(TurnVerdict(check=12345, probability=1.0, now=w.now))
    assert w.core.phase == "listening" and w.core.counters.stale_verdicts == 1


def test_the_acknowledgment_waits_for_a_candidate_who_resumed() -> None:
    slow_tts = {**Models().latency, "tts": 600 * MS}
    w = listening_world(models=Models(turn=oracle, latency=slow_tts), questions=3)
    w.say([(0.0, 2.0)])
    w.run_until(lambda w: bool(finals(w)), limit=20)
    ack_turn = w.core.state.air
    assert ack_turn is not None and not ack_turn.sentences[0].shown
    w.say([(0.0, 1.5)])  # talks again right after the answer was settled
    end = w.now + 1.5
    w.run(1.5)
    assert not [a for a in w.audio if a.turn == ack_turn.turn]  # not talked over
    w.run(1.0)
    played = [a for a in w.audio if a.turn == ack_turn.turn]
    assert played and end <= w.now


def test_the_acknowledgment_plays_at_once_when_nobody_talks() -> None:
    slow_tts = {**Models().latency, "tts": 600 * MS}
    w = listening_world(models=Models(turn=oracle, latency=slow_tts), questions=3)
    w.say([(0.0, 2.0)])
    w.run_until(lambda w: bool(finals(w)), limit=20)
    air = w.core.state.air
    assert air is not None
    w.run(0.7)
    assert [a for a in w.audio if a.turn == air.turn]


def test_turn_state_survives_snapshots() -> None:
    w = listening_world(models=Models(turn=oracle, stt_text=fragments), restore_every_step=True)
    w.say([(0.0, 1.5), (3.3, 1.5)])
    w.run_until(lambda w: bool(finals(w)), limit=20)
    assert finals(w) == ["so the first thing I did was to add a cache."]
