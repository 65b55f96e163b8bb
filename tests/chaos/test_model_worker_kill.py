"""kill -9 of an LLM worker while it runs a job: JetStream redelivers the job to another
worker after the consumer's ack_wait, the session uses its result once, no fallback."""

from __future__ import annotations

import time

import pytest

from actors.models.engines.deterministic import DEFAULT_QUESTIONS
from bus import jobs, subjects
from bus.provision import ACK_WAIT
from parley.client import Client
from tests.chaos.harness import (
    ANSWER,
    Fleet,
    assert_clean_seqs,
    assert_complete,
    assert_one_activation_at_a_time,
    bus_client,
    llm_stats,
    ready_everywhere,
    results_of,
    timeline,
    wait_until,
)
from tests.conftest import TIME

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(150)]


async def test_kill_llm_worker_mid_job_redelivers_once(fleet: Fleet) -> None:
    others = fleet.start("models", "stt,tts,embed")
    session = fleet.start("session", "session")
    edge = fleet.start("edge", "edge")
    # the only LLM worker at first, 5 s per job: its first job is the first question
    slow = fleet.start("llm-slow", "llm", env={"PARLEY_DETERMINISTIC_DELAY_MS": "5000"})
    for p in (others, session, edge, slow):
        await p.ready()
    nc = await bus_client(fleet.nats_url)
    js = nc.jetstream()
    c = Client(fleet.edge_url(edge))
    try:
        await ready_everywhere(nc, ("session", "stt", "llm", "tts", "embed"))
        await c.connect()
        await c.send({"type": "start", "role": "backend", "language": "en", "questions": 2})

        async def llm_job_in_flight() -> bool:
            info = await js.consumer_info(subjects.STREAM_JOBS, subjects.job_consumer("llm"))
            return bool(info.num_ack_pending)

        await wait_until(llm_job_in_flight, 20, "the slow worker took a job")
        slow.kill()
        killed_at = time.monotonic()
        fast = fleet.start("llm-fast", "llm")
        await fast.ready()
        first = await c.wait_for("question", timeout=40 * TIME, where=lambda e: e["kind"] == "main")
        print(
            f"job redelivered and answered {first['_t'] - killed_at:.1f} s after the kill "
            f"(llm ack_wait {ACK_WAIT['llm']:.0f} s)"
        )
        # the LLM's question, not the bank's fallback: the redelivered job's result was used
        assert first["text"] == DEFAULT_QUESTIONS["en"][0], first
        stats = await llm_stats(nc)
        assert stats["jobs_redelivered"] >= 1, stats
        report = await c.typed_interview(ANSWER, timeout=90 * TIME)
        assert_complete(report, 2)
        assert_clean_seqs(c)
        assert_one_activation_at_a_time(fleet)
        firsts = [e for e in c.rx.of("question") if e["kind"] == "main" and e["index"] == 1]
        assert len(firsts) == 1, timeline(c)
        # exactly one terminal result per job, the redelivered one included
        results = await results_of(nc, c.session_id)
        done = [r for _, r in results if jobs.is_terminal(r)]
        ids = [r.job_id for r in done]
        assert len(ids) == len(set(ids)), ids
        first_job = [r for r in done if isinstance(r, jobs.LlmDone) and r.text == first["text"]]
        assert len(first_job) == 1, done
    finally:
        await c.close()
        await nc.drain()
