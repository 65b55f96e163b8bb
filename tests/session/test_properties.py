"""Property tests: random event sequences never break the core's invariants, and once
the world behaves, every interview reaches ``finished`` (no hang)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.session import CoreConfig, JobResultIn
from bus import events as ev
from bus import jobs as jb
from tests.session.world import MS, Candidate, Models, World

PURPOSES = ["question", "followup", "assess", "tts", "stt", "ingest", "search"]
BEHAVIOURS = ["ok", "error", "silent", "late", "empty"]

client_events = st.one_of(
    st.builds(
        ev.Start,
        language=st.sampled_from(["en", "ko"]),
        questions=st.integers(1, 3),
        resume_text=st.sampled_from(["", "Go and Postgres."]),
    ),
    st.builds(ev.AnswerText, text=st.sampled_from(["", "  ", "A typed answer.", "네."])),
    st.just(ev.End()),
    st.builds(ev.Pong, id=st.integers(0, 6)),
    st.builds(ev.Attach, last_seq=st.integers(0, 10)),
    st.just(ev.Detach()),
    st.just(ev.Hello()),
)

result_kinds = st.sampled_from(
    ["tts_chunk", "tts_done", "stt", "sentence", "llm_done", "embed", "error"]
)

actions = st.lists(
    st.one_of(
        st.tuples(st.just("run"), st.integers(1, 120)),
        st.tuples(st.just("client"), client_events),
        st.tuples(st.just("say"), st.floats(0.05, 4.0)),
        st.tuples(st.just("result"), result_kinds, st.integers(0, 50), st.integers(0, 3)),
        st.tuples(st.just("behaviour"), st.sampled_from(PURPOSES), st.sampled_from(BEHAVIOURS)),
        st.tuples(st.just("mic"), st.booleans()),
        st.tuples(st.just("pong"), st.booleans()),
        st.tuples(st.just("long_run"), st.integers(5, 60)),
    ),
    max_size=30,
)


def garbage(kind: str, job_id: str, n: int) -> jb.Result:
    match kind:
        case "tts_chunk":
            return jb.TtsChunk(
                job_id=job_id, index=n, sample_rate=16000 * (n % 2), pcm=b"\x01\x00" * 100 * n
            )
        case "tts_done":
            return jb.TtsDone(job_id=job_id, chunks=n)
        case "stt":
            return jb.SttResult(job_id=job_id, text="noise." * n, no_speech=n == 0)
        case "sentence":
            return jb.LlmSentence(job_id=job_id, index=n, text="Random sentence?" * n)
        case "llm_done":
            rubric = jb.Rubric(relevance=n, depth=n, clarity=n, role_fit=n) if n else None
            return jb.LlmDone(job_id=job_id, text="Done." * n, rubric=rubric)
        case "embed":
            return jb.EmbedResult(job_id=job_id, chunks=["chunk"] * n)
    return jb.JobError(job_id=job_id, kind="llm", code="failed", message="x")


def play(w: World, steps: list[tuple[Any, ...]]) -> None:
    models = w.models
    for action in steps:
        match action:
            case ("run", frames):
                for _ in range(frames):
                    w.step()
            case ("long_run", seconds):
                w.run(float(seconds))
            case ("client", event):
                w.client(event)
            case ("say", seconds):
                w.say([(0.0, seconds)])
            case ("result", kind, pick, n):
                live = w.core.live_jobs()
                job_id = live[pick % len(live)] if live and pick % 3 else f"bogus:{pick}"
                w.feed(JobResultIn(garbage(kind, job_id, n), w.now))
            case ("behaviour", purpose, behaviour):
                models.behaviour[purpose] = behaviour
            case ("mic", on):
                w.mic = on
            case ("pong", on):
                w.auto_pong = on


def behave_and_finish(w: World) -> None:
    """The world keeps answering and time advances: the interview must finish."""
    w.models.behaviour.clear()
    w.auto_pong = True
    w.mic = True
    w.client(ev.Attach())
    if w.core.phase == "idle":
        w.client(w.start)
    w.run_until(lambda w: w.core.phase == "finished", limit=1500.0)
    assert w.reports and w.reports[-1] == w.of(ev.Report)[-1].report


SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(steps=actions, voice=st.booleans(), start=st.booleans())
def test_random_sequences_keep_invariants_and_finish(
    steps: list[tuple[Any, ...]], voice: bool, start: bool
) -> None:
    w = World(
        questions=2,
        candidate=Candidate(mode="voice" if voice else "typed"),
        models=Models(),
        config=CoreConfig(idle_timeout_s=120.0, grace_s=8.0),
    )
    if start:
        w.begin()
    play(w, steps)  # invariants are checked by World after every handle()
    behave_and_finish(w)
    assert w.core.audio_queued_ms <= w.config.audio_queue_ms


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=actions)
def test_random_sequences_restore_equal_at_every_step(steps: list[tuple[Any, ...]]) -> None:
    w = World(questions=1, candidate=Candidate(mode="typed"), restore_every_step=True)
    w.begin()
    play(w, steps)
    behave_and_finish(w)


def test_snapshot_size_does_not_depend_on_garbage() -> None:
    w = World(questions=1, candidate=Candidate(mode="mute"))
    w.begin()
    w.run(2.0)
    base = len(w.core.snapshot())
    for i in range(500):
        w.feed(
            JobResultIn(
                jb.TtsChunk(job_id=f"bogus:{i}", index=i, sample_rate=16000, pcm=b"\x00" * 1000),
                w.now + i * MS,
            )
        )
    assert len(w.core.snapshot()) < base + 200
    assert w.core.counters.late_results == 500
