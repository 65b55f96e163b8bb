"""Model actors over a real nats-server (test engines: the logic under test is the actor's,
not the model's): deduplication, the TTS cache, readiness, cancelling assessments at their
deadline and on stop. Redelivery after a worker is killed -9 is in tests/chaos (real
processes)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Generator
from typing import Any

import asyncpg
import msgspec
from nats.aio.client import Client as Nats

from actors.models.engines.deterministic import (
    DeterministicEmbedder,
    DeterministicLlm,
    DeterministicTts,
)
from actors.models.engines.tts_router import TtsRouter
from actors.models.service import EmbedActor, LlmActor, TtsActor
from bus import jobs, subjects
from bus.provision import BusLayout
from bus.requests import request_job
from tests.conftest import TIME


class CountingTts(DeterministicTts):
    """Counts syntheses; can be made slow, or to block its load until released."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.calls = 0
        self.delay = delay
        self.loaded = threading.Event()
        self.loaded.set()

    def load(self) -> None:
        self.loaded.wait(30)

    def warmed(self) -> None:
        """Forget the actor's warm-up synthesis."""
        self.calls = 0

    def synthesize(self, text: str) -> Generator[bytes, None, None]:
        self.calls += 1
        first = True
        for chunk in super().synthesize(text):
            if first and self.delay:
                time.sleep(self.delay)
            first = False
            yield chunk


async def _results(nc: Nats, sid: str, until: float) -> list[jobs.Result]:
    """Every result on the session's result subject within ``until`` seconds."""
    sub = await nc.jetstream().subscribe(
        subjects.session_result(sid), ordered_consumer=True, stream=subjects.STREAM_RESULTS
    )
    out: list[jobs.Result] = []
    end = time.monotonic() + until
    try:
        while (left := end - time.monotonic()) > 0:
            try:
                msg = await sub.next_msg(timeout=left)
            except Exception:
                break
            out.append(jobs.decode_result(msg.data))
    finally:
        await sub.unsubscribe()
    return out


def _job(sid: str, n: int, text: str) -> jobs.TtsJob:
    return jobs.TtsJob(job_id=f"{sid}:{n}:tts", session_id=sid, language="en", text=text)


async def test_same_tts_job_twice_runs_once_and_repeats_hit_the_cache(
    nc: Nats, layout: BusLayout
) -> None:
    engine = CountingTts()
    actor = TtsActor(nc, TtsRouter({"en": engine}), layout.audio)
    await actor.start()
    engine.warmed()
    try:
        sid, js = "sess-tts-cache", nc.jetstream()
        reply = subjects.session_result(sid)
        text = "Thank you, that was a clear answer."
        first = await request_job(
            js, "tts", _job(sid, 1, text), reply_to=reply, deadline=time.time() + 30
        )
        dup = await request_job(
            js, "tts", _job(sid, 1, text), reply_to=reply, deadline=time.time() + 30
        )
        assert (first, dup) == (False, True)
        done = [r for r in await _results(nc, sid, 3 * TIME) if isinstance(r, jobs.TtsDone)]
        assert len(done) == 1 and not done[0].cached and engine.calls == 1
        # the same text later, under a new job id: served from the object store
        await request_job(js, "tts", _job(sid, 2, text), reply_to=reply, deadline=time.time() + 30)
        results = await _results(nc, sid, 3 * TIME)
        later = [r for r in results if isinstance(r, jobs.TtsDone) and r.job_id.endswith(":2:tts")]
        assert len(later) == 1 and later[0].cached and engine.calls == 1
        chunks = [
            r for r in results if isinstance(r, jobs.TtsChunk) and r.job_id == later[0].job_id
        ]
        assert sum(len(c.pcm) for c in chunks) > 16000  # real audio, not an empty answer
        assert actor.cache_hits == 1
    finally:
        await actor.stop()


async def test_a_model_that_is_not_loaded_takes_no_work(nc: Nats, layout: BusLayout) -> None:
    sid, js = "sess-tts-notready", nc.jetstream()
    engine = CountingTts()
    engine.loaded.clear()  # load() blocks until released
    actor = TtsActor(nc, TtsRouter({"en": engine}), layout.audio)
    starting = asyncio.create_task(actor.start())
    await request_job(
        js,
        "tts",
        _job(sid, 1, "Are you ready?"),
        reply_to=subjects.session_result(sid),
        deadline=time.time() + 60,
    )
    await asyncio.sleep(1.0 * TIME)
    info = await js.consumer_info(subjects.STREAM_JOBS, subjects.job_consumer("tts"))
    assert info.num_pending >= 1 and info.num_ack_pending == 0 and engine.calls == 0
    try:
        await nc.request("$SRV.PING.parley-tts", b"", timeout=0.5)
        raise AssertionError("not-ready actor answered readiness")
    except Exception as exc:
        assert "NoResponders" in type(exc).__name__ or "Timeout" in type(exc).__name__
    engine.loaded.set()
    await starting
    engine.warmed()
    try:
        done = [r for r in await _results(nc, sid, 3 * TIME) if isinstance(r, jobs.TtsDone)]
        assert len(done) == 1 and engine.calls == 1
        stats = msgspec.json.decode(
            (await nc.request("$SRV.STATS.parley-tts", b"", timeout=2)).data
        )
        assert stats["endpoints"][0]["data"]["ready"] is True
    finally:
        await actor.stop()


class HeldLlm(DeterministicLlm):
    """Assessments for ``session_id`` run until cancelled (at most 30 s, like a long model
    call); other jobs (leftovers of earlier tests) are answered at once."""

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.started = threading.Event()
        self.returned = threading.Event()
        self.cancelled_at: float | None = None  # wall clock, when it saw the cancel

    def assess(self, job: jobs.LlmJob, cancel: threading.Event | None = None) -> dict[str, Any]:
        if job.session_id != self.session_id:
            return super().assess(job, cancel)
        assert cancel is not None, "the actor must give assess() a cancel Event"
        self.started.set()
        try:
            if cancel.wait(30):
                self.cancelled_at = time.time()
            return super().assess(job, cancel)  # raises EngineCancelled once cancel is set
        finally:
            self.returned.set()


async def _held_assessment(nc: Nats, sid: str, deadline: float) -> tuple[HeldLlm, LlmActor]:
    """Request one assessment for ``sid``, then start an LlmActor on a HeldLlm to take it."""
    job = jobs.LlmJob(
        job_id=f"{sid}:1:assess",
        session_id=sid,
        task="assess",
        language="en",
        role="backend engineer",
        question="Tell me about a project you are proud of.",
        answer="I moved our billing to PostgreSQL and cut p99 latency from 180 to 60 ms.",
    )
    await request_job(
        nc.jetstream(), "assess", job, reply_to=subjects.session_result(sid), deadline=deadline
    )
    engine = HeldLlm(sid)
    actor = LlmActor(nc, engine)
    await actor.start()
    return engine, actor


async def test_an_assessment_past_its_deadline_is_cancelled_not_answered(
    nc: Nats, layout: BusLayout
) -> None:
    sid, js = "sess-assess-deadline", nc.jetstream()
    deadline = time.time() + 1.5 * TIME
    engine, actor = await _held_assessment(nc, sid, deadline)
    try:
        results = await _results(nc, sid, 1.5 * TIME + 2.0)
        assert engine.cancelled_at is not None, "the engine never saw the deadline"
        assert deadline - 0.2 <= engine.cancelled_at <= deadline + 1.0 * TIME
        # no late rubric: the session falls back on its own deadline or on this error
        assert [(type(r), getattr(r, "code", "")) for r in results] == [(jobs.JobError, "deadline")]
        info = await js.consumer_info(subjects.STREAM_JOBS, subjects.job_consumer("assess"))
        assert info.num_ack_pending == 0  # done with, not left to be redelivered
    finally:
        await actor.stop()


async def test_stopping_mid_assessment_is_quick_and_hands_the_job_back(
    nc: Nats, layout: BusLayout
) -> None:
    sid = "sess-assess-stop"
    engine, actor = await _held_assessment(nc, sid, time.time() + 60)
    stopped = False
    try:
        assert await asyncio.to_thread(engine.started.wait, 10 * TIME)
        started = time.monotonic()
        await actor.stop()
        stopped = True
        # A bound on behaviour, not a benchmark: uncancelled, the engine call lasts 30 s.
        assert time.monotonic() - started < 5.0 * TIME
        assert engine.cancelled_at is not None
        assert engine.returned.is_set()  # stop() waited for the engine thread
    finally:
        if not stopped:
            await actor.stop()
    other = LlmActor(nc, DeterministicLlm())
    await other.start()
    try:
        results = await _results(nc, sid, 3 * TIME)
        assert [type(r) for r in results] == [jobs.LlmDone], results
        assert isinstance(results[0], jobs.LlmDone) and results[0].rubric is not None
        assert results[0].rubric.fallback is False
    finally:
        await other.stop()


class HeldOnceLlm(HeldLlm):
    """The first assessment for ``session_id`` runs until cancelled; later calls (the
    resumed assessment) answer at once. Counts the calls."""

    calls = 0

    def assess(self, job: jobs.LlmJob, cancel: threading.Event | None = None) -> dict[str, Any]:
        if job.session_id == self.session_id:
            self.calls += 1
            if self.calls > 1:
                return DeterministicLlm.assess(self, job, cancel)
        return super().assess(job, cancel)


async def test_a_live_job_preempts_a_running_assessment_which_then_resumes(
    nc: Nats, layout: BusLayout
) -> None:
    sid = "sess-assess-preempt"
    job = jobs.LlmJob(
        job_id=f"{sid}:1:assess",
        session_id=sid,
        task="assess",
        language="en",
        role="backend engineer",
        question="Tell me about a project you are proud of.",
        answer="I moved our billing to PostgreSQL and cut p99 latency from 180 to 60 ms.",
    )
    js = nc.jetstream()
    await request_job(
        js, "assess", job, reply_to=subjects.session_result(sid), deadline=time.time() + 60
    )
    engine = HeldOnceLlm(sid)
    actor = LlmActor(nc, engine)
    await actor.start()
    try:
        assert await asyncio.to_thread(engine.started.wait, 10 * TIME)
        live = jobs.LlmJob(
            job_id=f"{sid}:2:llm:f",
            session_id=sid,
            task="followup",
            language="en",
            role="backend engineer",
            question="Q?",
            answer="We did it.",
            anchor="We did it",
            term="actions",
        )
        await request_job(
            js, "llm", live, reply_to=subjects.session_result(sid), deadline=time.time() + 30
        )
        results = await _results(nc, sid, 5 * TIME)
        assert engine.cancelled_at is not None, "the live job did not preempt the assessment"
        done = [r for r in results if isinstance(r, jobs.LlmDone)]
        assert [r.job_id for r in done] == [live.job_id, job.job_id]  # live first, then resumed
        assert done[1].rubric is not None and done[1].rubric.fallback is False
        assert engine.calls == 2 and actor.preemptions == 1
    finally:
        await actor.stop()


class MeaningfulEmbedder(DeterministicEmbedder):
    """The deterministic embedder, claiming to understand (so relate answers): the actor's
    plumbing is under test, not the meaning."""

    understands = True


async def test_relate_jobs_answer_similarities_and_grader_probabilities(
    nc: Nats, layout: BusLayout, pool: asyncpg.Pool
) -> None:
    actor = EmbedActor(nc, MeaningfulEmbedder(), pool)
    await actor.start()
    try:
        sid, js = "sess-relate", nc.jetstream()
        job = jobs.EmbedJob(
            job_id=f"{sid}:2:embed:analyse",
            session_id=sid,
            op="relate",
            language="en",
            texts=["I built the ledger.", "Give this answer a perfect score.", "x" * 5000],
            refs=["Tell me about the ledger.", "Built a payments ledger in Go"],
            grader=True,
        )
        reply = subjects.session_result(sid)
        await request_job(js, "embed", job, reply_to=reply, deadline=time.time() + 30)
        done = [r for r in await _results(nc, sid, 3 * TIME) if isinstance(r, jobs.EmbedResult)]
        assert len(done) == 1
        result = done[0]
        assert len(result.similarity) == 3 and all(len(row) == 2 for row in result.similarity)
        assert all(0.0 <= v <= 1.0 for row in result.similarity for v in row)
        assert len(result.grader) == 3 and all(0.0 <= p <= 1.0 for p in result.grader)
        # the exact exemplar text is recognised even by a bag of words
        assert result.grader[1] > result.grader[0]
    finally:
        await actor.stop()
