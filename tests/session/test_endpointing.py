"""Turn-taking: the pure endpointer, and endpointing through the core."""

from __future__ import annotations

from actors.session import CoreConfig
from actors.session.endpointing import (
    Endpoint,
    Endpointer,
    EndpointParams,
    Onset,
    SegmentCut,
    Signal,
    feed,
    flush,
)
from actors.session.text import looks_complete
from bus import events as ev
from bus import jobs as jb
from tests.session.world import MS, SID, Candidate, Models, World

FRAME = b"\x01\x00" * 512
P = EndpointParams(
    frame_ms=32.0,
    bytes_per_ms=32.0,
    onset_ms=200.0,
    preroll_bytes=32 * 500,
    segment_pause_ms=350.0,
    min_segment_speech_ms=1000.0,
    max_segment_ms=8000.0,
    endpoint_ms=1200.0,
    max_utterance_ms=120_000.0,
)


def run(ep: Endpointer, pattern: list[tuple[bool, float]], p: EndpointParams = P) -> list[Signal]:
    out: list[Signal] = []
    for speech, ms in pattern:
        for _ in range(round(ms / 32)):
            out.extend(feed(ep, FRAME, speech, p))
    return out


def kinds(signals: list[Signal]) -> list[str]:
    return [type(s).__name__ for s in signals]


def test_onset_needs_enough_speech() -> None:
    ep = Endpointer()
    assert run(ep, [(True, 160), (False, 500)]) == []
    assert kinds(run(ep, [(True, 224)])) == ["Onset"]


def test_short_pause_does_not_end_but_cuts_a_long_enough_segment() -> None:
    ep = Endpointer()
    sig = run(ep, [(True, 1500), (False, 480), (True, 800)])
    assert kinds(sig) == ["Onset", "SegmentCut"]
    cut = sig[1]
    assert isinstance(cut, SegmentCut) and cut.speech_ms >= 1000
    # trailing silence is kept to about one pause
    assert len(cut.pcm) / 32 <= 1500 + 300 + 350 + 64


def test_pause_before_a_second_of_speech_does_not_cut() -> None:
    ep = Endpointer()
    assert kinds(run(ep, [(True, 600), (False, 480), (True, 300)])) == ["Onset"]


def test_long_silence_ends_the_utterance_with_the_last_segment() -> None:
    ep = Endpointer()
    sig = run(ep, [(True, 700), (False, 1300)])
    assert kinds(sig) == ["Onset", "SegmentCut", "Endpoint"]
    end = sig[-1]
    assert isinstance(end, Endpoint) and end.reason == "silence" and 600 <= end.speech_ms <= 800
    assert not ep.active


def test_short_endpoint_when_the_caller_asks() -> None:
    ep = Endpointer()
    short = EndpointParams(
        **{**{f: getattr(P, f) for f in P.__struct_fields__}, "endpoint_ms": 600.0}
    )
    sig = run(ep, [(True, 1200), (False, 700)], short)
    assert kinds(sig) == ["Onset", "SegmentCut", "Endpoint"]


def test_max_segment_cuts_continuous_speech() -> None:
    ep = Endpointer()
    sig = run(ep, [(True, 20_000)])
    cuts = [s for s in sig if isinstance(s, SegmentCut)]
    assert len(cuts) == 2 and all(len(c.pcm) / 32 <= 8000 + 32 for c in cuts)


def test_max_utterance_forces_the_end() -> None:
    ep = Endpointer()
    p = EndpointParams(
        **{**{f: getattr(P, f) for f in P.__struct_fields__}, "max_utterance_ms": 5000.0}
    )
    sig = run(ep, [(True, 6000)], p)
    ends = [s for s in sig if isinstance(s, Endpoint)]
    assert len(ends) == 1 and ends[0].reason == "max_utterance"
    assert kinds(sig)[-1] == "Onset"  # still speaking: a new utterance opens


def test_flush_ends_an_open_utterance() -> None:
    ep = Endpointer()
    run(ep, [(True, 500)])
    sig = flush(ep, P)
    assert kinds(sig) == ["SegmentCut", "Endpoint"]
    assert flush(ep, P) == []


def test_onset_includes_preroll() -> None:
    ep = Endpointer()
    sig = run(ep, [(False, 320), (True, 224)])
    assert isinstance(sig[0], Onset)
    assert len(ep.segment) == 32 * (320 + 224) or len(ep.segment) == P.preroll_bytes


def test_looks_complete() -> None:
    assert looks_complete("I designed it myself.", "en")
    assert looks_complete("Why?", "en")
    assert not looks_complete("and then,", "en")
    assert not looks_complete("so I think...", "en")
    assert looks_complete("제가 설계했습니다", "ko")
    assert looks_complete("그렇게 했어요.", "ko")
    assert not looks_complete("그래서 저는", "ko")


# --- through the core ---------------------------------------------------------------


def listening_world(**kw: object) -> World:
    w = World(candidate=Candidate(mode="mute"), **kw)  # type: ignore[arg-type]
    w.begin()
    w.run_until(lambda w: w.core.phase == "listening")
    return w


def test_partial_transcripts_flow_before_the_final_one() -> None:
    w = listening_world()
    w.say([(0.0, 1.5), (2.0, 1.5)])  # 500 ms pause inside the answer
    w.run_until(lambda w: any(t.final for t in w.of(ev.Transcript)))
    transcripts = w.of(ev.Transcript)
    assert [t.final for t in transcripts] == [False, False, True]
    assert transcripts[-1].text == "we did part a of it. we did part b of it."
    stt = w.requested("stt")
    assert [r.job.job_id for r in stt] == [f"{SID}:2:stt:0", f"{SID}:2:stt:1"]
    assert isinstance(stt[1].job, jb.SttJob) and stt[1].job.prompt == "we did part a of it."


def _endpoint_ms(w: World) -> float:
    w.run_until(lambda w: bool(w.turns))
    return w.turns[0].record.latency["endpoint_ms"]


def test_semantic_endpoint_is_faster_after_a_full_sentence() -> None:
    quick = {**Models().latency, "stt": 100 * MS}
    w = listening_world(models=Models(latency=quick, stt_rtf=0.05))
    w.say([(0.0, 2.0)])
    fast = _endpoint_ms(w)
    w2 = listening_world(
        models=Models(latency=quick, stt_rtf=0.05, stt_text=lambda job: "and then I think we,")
    )
    w2.say([(0.0, 2.0)])
    slow = _endpoint_ms(w2)
    assert 600 <= fast < 800 and 1200 <= slow < 1400


def test_a_cough_is_not_an_answer() -> None:
    w = listening_world()
    w.say([(0.0, 300 * MS)])
    w.run(3.0)
    assert w.core.phase == "listening"
    assert not w.requested("stt") and w.core.counters.short_utterances == 1


def test_long_answer_is_cut_into_segments_and_capped() -> None:
    w = listening_world(config=CoreConfig(max_utterance_s=20.0))
    w.say([(0.0, 30.0)])
    w.run_until(lambda w: w.core.phase != "listening", limit=40)
    stt = w.requested("stt")
    assert len(stt) == 3  # 8 s + 8 s + the rest up to 20 s
    assert all(len(r.job.pcm) <= 8 * 32000 + 1024 for r in stt if isinstance(r.job, jb.SttJob))


def test_stalled_audio_ends_the_utterance() -> None:
    w = listening_world()
    w.say([(0.0, 2.0)])
    w.run(1.0)
    w.mic = False  # the client stops sending audio mid-answer
    w.run(2.5)
    assert w.requested("stt") and w.core.phase != "listening"


def test_speaking_again_while_the_last_segment_transcribes_continues_the_answer() -> None:
    models = Models(stt_text=lambda job: "and so,", latency={**Models().latency, "stt": 1.5})
    w = listening_world(models=models)
    w.say([(0.0, 1.5), (2.9, 1.5)])  # 1.4 s pause: endpoint, then more speech
    w.run_until(lambda w: w.core.phase == "thinking")
    w.run_until(lambda w: any(t.final for t in w.of(ev.Transcript)), limit=20)
    finals = [t for t in w.of(ev.Transcript) if t.final]
    assert len(finals) == 1 and finals[0].text == "and so, and so,"
    assert "listening" in w.states()[w.states().index("thinking") :]


def test_a_cough_after_the_answer_keeps_the_answer() -> None:
    models = Models(latency={**Models().latency, "stt": 2.0})
    w = listening_world(models=models)
    w.say([(0.0, 1.5), (2.9, 0.3)])  # endpoint at ~2.7 s, then a 300 ms cough
    w.run_until(lambda w: any(t.final for t in w.of(ev.Transcript)), limit=20)
    finals = [t.text for t in w.of(ev.Transcript) if t.final]
    assert finals == ["we did part a of it."]
    assert len(w.requested("stt")) == 1


def test_resuming_cannot_stretch_an_answer_past_the_cap() -> None:
    models = Models(latency={**Models().latency, "stt": 3.0})
    w = listening_world(models=models, config=CoreConfig(max_utterance_s=10.0))
    w.say([(0.0, 10.5), (12.0, 6.0)])
    w.run_until(lambda w: any(t.final for t in w.of(ev.Transcript)), limit=40)
    stt = [r.job for r in w.requested("stt") if isinstance(r.job, jb.SttJob)]
    assert sum(len(j.pcm) for j in stt) / 32000 <= 10.0 + 0.7
