"""Heartbeats, pause and resume, idle deactivation, wrong-phase events, ending early,
the audio queue."""

from __future__ import annotations

from typing import Any

import msgspec

from actors.session import (
    ClientInput,
    CoreConfig,
    Emit,
    Input,
    PersistReport,
    SessionCore,
    Snapshot,
    Tick,
)
from actors.session.phrases import default_phrases
from bus import events as ev
from tests.session.world import BANK, MS, SID, Candidate, Models, World


def test_pings_every_interval_and_pongs_keep_the_client() -> None:
    w = World(candidate=Candidate(mode="mute"))
    w.client(ev.Attach())
    w.run(16.0)
    pings = w.of(ev.Ping)
    assert [p.id for p in pings] == [1, 2, 3]
    assert w.core.state.live.attached and w.core.state.live.missed == 0


def test_missed_pongs_detach_then_pause_then_attach_resumes() -> None:
    cfg = CoreConfig(grace_s=10.0)
    w = World(config=cfg, candidate=Candidate(mode="mute"))
    w.begin()
    w.run_until(lambda w: w.core.phase == "listening")
    w.auto_pong = False
    t0 = w.now
    w.run_until(lambda w: not w.core.state.live.attached, limit=30)
    # 3 intervals without a pong (the first ping after the last pong, then 3 misses)
    assert 14.0 < w.now - t0 <= 20.5
    assert w.core.counters.missed_pongs == 3
    w.run(10.5)
    assert w.core.state.live.paused and "pause" in ",".join(w.snapshots)
    # The candidate was listening: they type; the response turn may not start while paused
    w.client(ev.AnswerText(text="I am back, sort of."))
    w.run(10.0)
    assert w.core.phase == "thinking" and w.of(ev.Question)[-1].index == 1
    w.auto_pong = True
    cmds = w.client(ev.Attach(last_seq=3))
    assert not w.core.state.live.paused
    shown = [c.event for c in cmds if isinstance(c, Emit)]
    assert shown[0] == ev.State(state="thinking", seq=shown[0].seq)
    assert any(isinstance(e, ev.Question) and e.kind == "followup" for e in shown)
    w.run_until(lambda w: w.core.phase == "listening")


def test_detached_before_first_question_waits_and_resumes() -> None:
    models = Models(tts_chunks=12)  # the greeting plays 3 s: longer than the grace
    w = World(config=CoreConfig(grace_s=1.0), candidate=Candidate(mode="mute"), models=models)
    w.begin()
    w.client(ev.Detach())
    w.run(20.0)
    assert w.core.phase == "greeting" and w.core.state.prepared is not None
    w.client(ev.Attach())
    w.run(3.0)
    assert w.core.phase in ("asking", "listening")


def test_idle_without_client_snapshots_and_deactivates() -> None:
    w = World(config=CoreConfig(idle_timeout_s=60.0), candidate=Candidate(mode="mute"))
    w.begin()
    w.client(ev.Detach())
    w.run(59.0)
    assert not w.deactivated
    w.run(1.5)
    assert w.deactivated == ["idle"]
    assert w.snapshots[-1].endswith("deactivate")
    n = len(w.events)
    w.run(5.0)
    assert len(w.events) == n  # a deactivated core stays quiet


def test_finished_session_deactivates_after_the_idle_timeout() -> None:
    w = World(questions=1, config=CoreConfig(idle_timeout_s=30.0))
    w.begin()
    w.finish()
    w.run(29.0)
    assert not w.deactivated
    w.run(1.5)
    assert w.deactivated == ["finished"]


def test_finished_session_without_client_leaves_soon() -> None:
    w = World(questions=1, config=CoreConfig(idle_timeout_s=300.0, finished_detached_s=10.0))
    w.begin()
    w.finish()
    w.run(20.0)
    assert not w.deactivated  # the client is still there: it may read the report
    w.client(ev.Detach())
    w.run(9.0)
    assert not w.deactivated
    w.run(1.5)
    assert w.deactivated == ["finished"]
    assert w.snapshots[-1].endswith("deactivate")


def test_periodic_snapshots_while_active() -> None:
    w = World(config=CoreConfig(snapshot_interval_s=5.0), candidate=Candidate(mode="mute"))
    w.begin()
    w.run(21.0)
    assert sum("periodic" in s for s in w.snapshots) >= 3


def _state_without_seq(core: SessionCore) -> object:
    st = msgspec.structs.replace(core.state, seq=0)
    return msgspec.to_builtins(st)


def test_wrong_phase_events_get_an_error_and_change_nothing() -> None:
    core = SessionCore.new(SID, CoreConfig(), BANK, default_phrases)
    core.handle(Tick(1.0))
    before = _state_without_seq(core)
    for event, code in ((ev.AnswerText(text="hi"), "not_started"), (ev.End(), "not_started")):
        cmds = core.handle(ClientInput(event, 1.0))
        assert [c.event.code for c in cmds] == [code]  # type: ignore[union-attr]
    assert _state_without_seq(core) == before
    w = World()
    w.begin()
    before2 = _state_without_seq(w.core)
    cmds = w.client(ev.Start())
    assert [
        c.event.code for c in cmds if isinstance(c, Emit) and isinstance(c.event, ev.Error)
    ] == ["already_started"]
    assert len(cmds) == 1
    assert _state_without_seq(w.core) == before2


def test_typed_answer_while_thinking_is_refused() -> None:
    complete = "I built a queue with retries because jobs failed. Latency fell 40%."
    models = Models(override=lambda jid: "silent" if jid.endswith(":q2") else None)
    w = World(candidate=Candidate(mode="typed", typed_text=complete), models=models)
    w.begin()
    w.run_until(lambda w: w.core.phase == "thinking")
    cmds = w.client(ev.AnswerText(text="again"))
    assert [c.event.code for c in cmds] == ["not_listening"]


def test_end_early_closes_and_reports_what_exists() -> None:
    w = World(questions=3, candidate=Candidate(mode="typed"))
    w.begin()

    def speaking_again(w: World) -> bool:
        air = w.core.state.air
        return bool(w.turns) and air is not None and any(a.turn == air.turn for a in w.audio)

    w.run_until(speaking_again)
    w.client(ev.End())
    assert w.core.phase == "closing"
    w.finish()
    report = w.reports[0]
    assert report["ended_early"] and report["answered"] == 1
    assert [q.kind for q in w.of(ev.Question)][-1] == "closing"
    assert w.of(ev.StopAudio)


def test_end_while_answering_drops_the_utterance() -> None:
    w = World(candidate=Candidate(mode="mute"))
    w.begin()
    w.run_until(lambda w: w.core.phase == "listening")
    w.say([(0.0, 1.2), (1.6, 3.0)])
    w.run(2.0)
    assert w.requested("stt") and w.core.phase == "listening"
    w.client(ev.End())
    assert not any(":stt:" in j for j in w.core.live_jobs())
    w.finish()
    assert w.reports[0]["answered"] == 0
    assert "nothing to score" in w.reports[0]["summary"]


def test_end_twice_is_harmless() -> None:
    w = World(candidate=Candidate(mode="typed"))
    w.begin()
    w.client(ev.End())
    assert w.client(ev.End()) == []
    w.finish()


# --- the audio queue -----------------------------------------------------------------


def test_audio_queue_drops_the_oldest_audio_and_counts_it() -> None:
    core = SessionCore.new(SID, CoreConfig(audio_queue_ms=100), BANK, default_phrases)
    first = bytes([1, 0]) * 1600  # 100 ms
    second = bytes([2, 0]) * 800  # 50 ms
    core.receive_audio(first, 1.0)
    core.receive_audio(second, 1.0)
    assert core.audio_dropped_ms == 50 and core.audio_queued_ms == 100
    out = core.audio_to_analyze()
    assert len(out) == 3 * 1024 and out[0] == 1  # 3 whole frames of 512 samples
    assert core.audio_queued_ms == (3200 - 3072) / 32
    rest = core.audio_to_analyze()
    assert rest == b""
    core.receive_audio(bytes([3, 0]) * 512, 1.0)
    assert core.audio_to_analyze()[-2] == 3


def test_audio_queue_overflow_while_nobody_drains() -> None:
    w = World(config=CoreConfig(audio_queue_ms=500), candidate=Candidate(mode="mute"))
    w.begin()
    for _ in range(100):
        w.core.receive_audio(b"\x00\x00" * 512, w.now)
        assert w.core.audio_queued_ms <= 500
    assert w.core.audio_dropped_ms == 100 * 32 - 500 and w.core.audio_queued_ms == 500


def test_vad_flags_must_match_frames() -> None:
    from actors.session import VoiceActivity

    w = World(candidate=Candidate(mode="mute"))
    w.begin()
    w.run_until(lambda w: w.core.phase == "listening")
    w.feed(VoiceActivity(b"\x00\x00" * 700, [0.0, 0.0], w.now + 10 * MS))
    assert w.core.counters.vad_mismatch == 1


def test_the_report_goes_out_with_a_snapshot_that_knows_it() -> None:
    """The report may go out while the closing words still play: the state that knows it
    went out is stored right after it (a node lost before the closing ends must not send
    a second report), and the sessions row says finished from then on."""
    w = World(questions=1)
    batches: list[tuple[list[Any], str]] = []
    feed = w.feed

    def recording(inp: Input) -> list[Any]:
        cmds = feed(inp)
        batches.append((cmds, w.core.status))
        return cmds

    w.feed = recording  # type: ignore[method-assign]
    w.begin()
    w.finish()
    cmds, status = next((c, s) for c, s in batches if any(isinstance(x, PersistReport) for x in c))
    kinds = [type(c).__name__ for c in cmds]
    assert kinds.index("Snapshot") > kinds.index("PersistReport")
    assert "report" in next(c.reason for c in cmds if isinstance(c, Snapshot)).split(",")
    assert status == "finished"
