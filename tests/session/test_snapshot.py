"""Snapshots: restore gives an equal state at every step, seq and clocks continue, and
the state stays small over a long interview."""

from __future__ import annotations

from actors.session import ClientInput, CoreConfig, RequestJob, SessionCore, Tick
from actors.session.phrases import default_phrases
from bus import events as ev
from tests.session.world import BANK, Candidate, Models, World


def _run(restore: bool, **kw: object) -> World:
    w = World(restore_every_step=restore, **kw)  # type: ignore[arg-type]
    w.begin()
    w.finish()
    return w


def test_restore_at_every_step_changes_nothing_en_voice() -> None:
    plain = _run(False, questions=2)
    restored = _run(True, questions=2)
    assert restored.events == plain.events
    assert restored.audio == plain.audio
    assert restored.requests == plain.requests
    assert restored.reports == plain.reports


def test_restore_at_every_step_changes_nothing_ko_typed_with_failures() -> None:
    kw = {
        "language": "ko",
        "questions": 2,
        "candidate": Candidate(mode="typed", typed_text="네, 그렇게 했습니다."),
        "models": Models(behaviour={"question": "error", "assess": "silent"}),
    }
    plain = _run(False, **kw)
    restored = _run(True, **kw)
    assert restored.events == plain.events and restored.reports == plain.reports


def test_restore_on_another_clock_keeps_remaining_deadlines() -> None:
    w = World(candidate=Candidate(mode="mute"), models=Models(behaviour={"question": "silent"}))
    w.begin()
    w.run_until(lambda w: bool(w.requested("question")))
    (q1,) = w.requested("question")
    remaining = q1.deadline - w.now
    blob = w.core.snapshot()
    core = SessionCore.restore(blob, w.config, BANK, default_phrases, now=5.0)
    # Half the remaining time later on the new clock, nothing has expired.
    core.handle(Tick(5.0 + remaining / 2))
    assert core.expects(q1.job.job_id)
    # New deadlines are expressed in the new clock.
    cmds = core.handle(ClientInput(ev.End(), 5.0 + remaining / 2))
    assert any(isinstance(c, RequestJob) for c in cmds)
    for c in cmds:
        if isinstance(c, RequestJob):
            assert 5.0 < c.deadline < 5.0 + remaining / 2 + 30


def test_seq_continues_after_the_floor() -> None:
    w = World()
    w.begin()
    core = SessionCore.restore(w.core.snapshot(), w.config, BANK, default_phrases)
    core.set_seq_floor(100)
    core.set_seq_floor(50)  # never goes back
    (cmd,) = core.handle(ClientInput(ev.Start(), w.now))
    assert cmd.event.seq == 101  # type: ignore[union-attr]


def test_new_rejects_a_bad_session_id() -> None:
    import pytest

    with pytest.raises(ValueError):
        SessionCore.new("a:b", CoreConfig(), BANK, default_phrases)


def test_state_stays_bounded_over_a_long_interview() -> None:
    cfg = CoreConfig(max_utterance_s=30.0)
    long_answer = Candidate(mode="voice", speech=40.0, inner_pause=300e-3)
    w = World(
        questions=10,
        config=cfg,
        candidate=long_answer,
        models=Models(stt_text=lambda job: "word " * 60 + "."),
    )
    w.begin()
    sizes: list[int] = []
    while w.core.phase != "finished":
        for _ in range(30):
            w.step()
        sizes.append(len(w.core.snapshot()))
        assert w.now < 1000.0 + 3000.0
    st = w.core.state
    assert len(st.history) <= cfg.history_turns
    assert len(st.answers) <= 10 * (1 + cfg.max_followups)
    # Audio held (reorder buffer, prepared question, queue, segment) is what dominates.
    bound = cfg.tts_buffer_max_bytes + 8 * 32000 + cfg.audio_queue_ms * 32 + 400_000
    assert max(sizes) < bound
    late = max(sizes[len(sizes) // 2 :])
    early = max(sizes[: len(sizes) // 2])
    assert late < early + 200_000  # no steady growth
